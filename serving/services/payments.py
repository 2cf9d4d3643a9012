"""Payment batches (purpose 3): pay each service-done file exactly once, give back what it did not use, and
write one remittance file per provider.

Each file is paid in its own database transaction — lock the file, check it is still ``service_done``, post
the payment (price × completion rate) and the return of the rest, record a ``payment_items`` row (unique per
file), move the file to ``paid`` — so a batch killed at any instant leaves every file either fully paid or
untouched. Running the batch again resumes the unfinished one: files already paid are no longer
``service_done`` and are skipped, the ledger references ``payment:<file>`` and ``release:<file>`` cannot be
posted twice, and the unique ``payment_items.enrolment_id`` makes the database refuse a second payment even if
all of that failed. Remittance files are written last (atomically: temporary file, then rename) from the
batch's items, so a re-run rewrites them whole; then the batch's files are closed and the batch completed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parcours.domain import rules
from parcours.domain.ledger import LedgerError, acquire_write_lock, lock_accounts, provider_account, transfer
from parcours.errors import Forbidden
from parcours.store.csv_safety import safe_csv
from parcours.store.supporting_models import Enrolment, PaymentBatch, PaymentItem
from serving.services.actors import Actor
from serving.services.enrolment_funding import file_account, reservation, return_account
from serving.services.enrolment_states import lock_enrolment, record_transition

REMITTANCE_COLUMNS = (
    "batch_id",
    "provider_id",
    "enrolment_id",
    "training_id",
    "session_start",
    "completion_rate",
    "price_cents",
    "amount_cents",
)


def pay_enrolment(
    session: Session, enrolment_id: int, *, batch_id: int, actor: Actor, on: dt.date
) -> PaymentItem | None:
    """Pay one file if it is (still) ``service_done``; ``None`` if there is nothing to pay. One
    transaction."""
    enrolment = lock_enrolment(session, enrolment_id)
    if enrolment.state != "service_done":
        return None
    if (
        session.scalar(select(PaymentItem.item_id).where(PaymentItem.enrolment_id == enrolment_id))
        is not None
    ):
        raise LedgerError(f"enrolment {enrolment_id} is service_done but already has a payment")
    assert enrolment.completion_basis_points is not None
    amount = rules.payment_amount_cents(enrolment.price_cents, enrolment.completion_basis_points)
    held = reservation(session, enrolment)
    try:
        paid, returned = rules.split_payment(amount, held)
    except rules.RuleError as exc:
        raise LedgerError(f"enrolment {enrolment_id}: {exc}") from exc
    sources = {source: file_account(session, enrolment, source) for source, _cents in held}
    lock_accounts(session, sources.values())
    provider = provider_account(session, enrolment.provider_id)
    transfer(
        session,
        kind="provider_payment",
        reference=f"payment:{enrolment_id}",
        actor=actor.username,
        moves=[(sources[source], provider, cents) for source, cents in paid],
        effective_date=on,
    )
    transfer(
        session,
        kind="unspent_return",
        reference=f"release:{enrolment_id}",
        actor=actor.username,
        moves=[
            (sources[source], return_account(session, enrolment, source), cents) for source, cents in returned
        ],
        effective_date=on,
    )
    returned_cents = sum(cents for _source, cents in returned)
    item = PaymentItem(
        batch_id=batch_id,
        enrolment_id=enrolment_id,
        provider_id=enrolment.provider_id,
        amount_cents=amount,
        returned_cents=returned_cents,
    )
    session.add(item)
    record_transition(
        session,
        enrolment,
        "pay",
        "paid",
        actor,
        on,
        {"batch_id": batch_id, "amount_cents": amount, "returned_cents": returned_cents},
    )
    return item


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def remittance_csv(rows: list[dict[str, object]]) -> str:
    """The remittance file of one provider; text cells a spreadsheet would run as formulas are neutralised."""
    return safe_csv(REMITTANCE_COLUMNS, rows)


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)


def batch_summary(session: Session, batch: PaymentBatch) -> dict[str, object]:
    """The batch as the API answers it: files paid, amounts per provider, remittance files and their
    content."""
    items = session.execute(
        select(PaymentItem, Enrolment)
        .join(Enrolment, Enrolment.enrolment_id == PaymentItem.enrolment_id)
        .where(PaymentItem.batch_id == batch.batch_id)
        .order_by(PaymentItem.provider_id, PaymentItem.enrolment_id)
    ).all()
    by_provider: dict[str, list[dict[str, object]]] = {}
    files = []
    for item, enrolment in items:
        row = {
            "batch_id": batch.batch_id,
            "provider_id": item.provider_id,
            "enrolment_id": item.enrolment_id,
            "training_id": enrolment.training_id,
            "session_start": enrolment.session_start.isoformat(),
            "completion_rate": (enrolment.completion_basis_points or 0) / 100,
            "price_cents": enrolment.price_cents,
            "amount_cents": item.amount_cents,
        }
        by_provider.setdefault(item.provider_id, []).append(row)
        files.append(
            {
                "enrolment_id": item.enrolment_id,
                "provider_id": item.provider_id,
                "amount_cents": item.amount_cents,
                "returned_cents": item.returned_cents,
            }
        )
    folder = Path(batch.remittance_dir)
    remittances = [
        {
            "provider_id": provider_id,
            "path": str(folder / f"remittance-{batch.batch_id:06d}-{_safe(provider_id)}.csv"),
            "files": len(rows),
            "amount_cents": sum(int(r["amount_cents"]) for r in rows),  # type: ignore[call-overload]
            "csv": remittance_csv(rows),
        }
        for provider_id, rows in sorted(by_provider.items())
    ]
    return {
        "batch_id": batch.batch_id,
        "state": batch.state,
        "run_on": batch.run_on.isoformat(),
        "files_paid": files,
        "amounts_by_provider_cents": {r["provider_id"]: r["amount_cents"] for r in remittances},
        "total_cents": sum(int(f["amount_cents"]) for f in files),  # type: ignore[call-overload]
        "remittances": remittances,
    }


def run_payment_batch(
    factory: sessionmaker[Session],
    *,
    actor: Actor,
    on: dt.date,
    remittance_dir: Path,
    on_file_paid: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Pay every ``service_done`` file, resuming the unfinished batch if a previous run crashed.

    ``on_file_paid(n)`` is called after the n-th file of this run is committed (progress, tests).
    """
    if actor.role not in ("admin", "system"):
        raise Forbidden("payment batches are run by an administrator")
    with factory() as session:
        acquire_write_lock(session)
        batch = session.scalars(
            select(PaymentBatch)
            .where(PaymentBatch.state == "running")
            .order_by(PaymentBatch.batch_id)
            .limit(1)
            .with_for_update()
        ).first()
        resumed = batch is not None
        if batch is None:
            batch = PaymentBatch(
                run_on=on,
                actor=actor.username,
                state="running",
                remittance_dir=str(Path(remittance_dir).resolve()),
            )
            session.add(batch)
        session.commit()
        batch_id = batch.batch_id
    with factory() as session:
        due = list(
            session.scalars(
                select(Enrolment.enrolment_id)
                .where(Enrolment.state == "service_done")
                .order_by(Enrolment.enrolment_id)
            )
        )
    paid_now = 0
    for enrolment_id in due:
        with factory() as session:
            item = pay_enrolment(session, enrolment_id, batch_id=batch_id, actor=actor, on=on)
            session.commit()
        if item is not None:
            paid_now += 1
            if on_file_paid is not None:
                on_file_paid(paid_now)
    with factory() as session:
        acquire_write_lock(session)
        batch = session.get(PaymentBatch, batch_id)
        assert batch is not None
        summary = batch_summary(session, batch)
        for remittance in summary["remittances"]:  # type: ignore[attr-defined]
            _write_atomically(Path(remittance["path"]), remittance["csv"])
        for enrolment in session.scalars(
            select(Enrolment)
            .where(
                Enrolment.state == "paid",
                Enrolment.enrolment_id.in_(
                    select(PaymentItem.enrolment_id).where(PaymentItem.batch_id == batch_id)
                ),
            )
            .with_for_update()
        ):
            record_transition(session, enrolment, "close", "closed", actor, on, {"batch_id": batch_id})
        batch.state = "completed"
        batch.completed_at = dt.datetime.now(dt.UTC)
        session.commit()
        summary = batch_summary(session, batch)
    summary["resumed"] = resumed
    summary["paid_in_this_run"] = paid_now
    return summary


def get_batch(session: Session, batch_id: int) -> PaymentBatch | None:
    return session.get(PaymentBatch, batch_id)
