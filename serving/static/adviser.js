/* Parcours — the advisers' page (issue 14). Vanilla JavaScript, no build step, no library.
 *
 * Everything shown comes from the JSON API with the adviser's bearer token, kept in sessionStorage (never a
 * cookie). The DOM is built with textContent only: no text from the API is ever parsed as HTML.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "parcours.adviser.token";
  var USER_KEY = "parcours.adviser.username";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var MAX_COMPARED = 3;
  var KIND_LABELS = {
    best: "Recommandé",
    most_complete: "Le plus complet",
    cheapest: "Le moins cher",
    shortest: "Le plus court",
    greedy: "Heuristique"
  };
  var EXPERIENCE_KINDS = {
    job: "emploi",
    diploma: "diplôme",
    certification: "certification",
    training: "formation",
    volunteering: "bénévolat",
    skill: "compétence déclarée"
  };

  var state = {
    token: null,
    username: null,
    holderId: null,
    target: { label: "", uri: null },
    plan: null,
    compared: [],
    requestSeq: 0
  };

  // --- Formatting (French) -------------------------------------------------------------------------------

  var euroFormat = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" });
  var euroRound = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR", maximumFractionDigits: 0 });
  var numberFormat = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });
  var percentFormat = new Intl.NumberFormat("fr-FR", { style: "percent", maximumFractionDigits: 0 });
  var dateFormat = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });

  function euros(cents) { return euroFormat.format((cents || 0) / 100); }
  function eurosRound(cents) { return euroRound.format((cents || 0) / 100); }
  function hours(value) { return numberFormat.format(value || 0) + " h"; }
  function percent(share) { return percentFormat.format(share || 0); }
  function dateFr(value) {
    if (!value) { return ""; }
    var text = String(value);
    var date = new Date(text.length === 10 ? text + "T00:00:00Z" : text);
    return isNaN(date.getTime()) ? text : dateFormat.format(date);
  }
  function plural(n, one, many) { return n + " " + (n > 1 ? many : one); }

  // --- DOM helpers ---------------------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) { append(node, arguments[i]); }
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) { append(node, arguments[i]); }
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) { return; }
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) { return; }
      if (name === "text") { node.textContent = String(value); }
      else if (name === "className") { node.setAttribute("class", value); }
      else if (name.slice(0, 2) === "on") { node.addEventListener(name.slice(2), value); }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) { return; }
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; }

  function hiddenText(text) { return el("span", { className: "visually-hidden", text: text }); }

  function setStatus(text, busy) {
    var status = $("status");
    status.textContent = text || "";
    status.classList.toggle("status--busy", Boolean(busy));
  }

  function focusHeading(id) {
    var heading = $(id);
    if (heading) { heading.focus(); }
  }

  // --- API -----------------------------------------------------------------------------------------------

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (state.token) { headers.Authorization = "Bearer " + state.token; }
    var options = { method: method, headers: headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
        if (response.status === 401 && state.token) {
          signOut("Votre session a expiré : reconnectez-vous.");
        }
        return { status: response.status, ok: response.ok, data: data };
      });
    }, function () {
      return { status: 0, ok: false, data: { detail: "Le service ne répond pas. Réessayez dans un instant." } };
    });
  }

  function detailText(data) {
    var detail = data && data.detail;
    if (!detail) { return "Erreur inattendue."; }
    if (typeof detail === "string") { return detail; }
    if (detail.message) { return detail.message; }
    if (Array.isArray(detail)) {
      return detail.map(function (p) {
        var field = p.field || (p.loc ? p.loc[p.loc.length - 1] : "");
        return (field ? field + " : " : "") + (p.message || p.msg || "");
      }).join(" ; ");
    }
    return "Erreur inattendue.";
  }

  // --- Views ---------------------------------------------------------------------------------------------

  function showView(view) {
    $("connexion").hidden = view !== "signin";
    $("beneficiaires").hidden = view !== "holders";
    $("beneficiaire").hidden = view !== "holder";
    var signedIn = view !== "signin";
    $("nav-holders").hidden = !signedIn;
    $("nav-holder").hidden = !signedIn || !state.holderId;
    $("sign-out").hidden = !signedIn;
    $("whoami").hidden = !signedIn;
    $("whoami").textContent = signedIn && state.username ? "Connecté : " + state.username : "";
    if (view === "holders") { $("nav-holders").setAttribute("aria-current", "page"); }
    else { $("nav-holders").removeAttribute("aria-current"); }
    if (view === "holder") { $("nav-holder").setAttribute("aria-current", "page"); }
    else { $("nav-holder").removeAttribute("aria-current"); }
  }

  // --- Sign in / out -------------------------------------------------------------------------------------

  function signIn(event) {
    event.preventDefault();
    var username = $("username").value.trim();
    var password = $("password").value;
    var error = $("sign-in-error");
    error.textContent = "";
    if (!username || !password) {
      error.textContent = "Saisissez votre identifiant et votre mot de passe.";
      (username ? $("password") : $("username")).focus();
      return;
    }
    $("sign-in").disabled = true;
    setStatus("Connexion…", true);
    var form = new URLSearchParams();
    form.set("username", username);
    form.set("password", password);
    fetch("/v1/auth/token", {
      method: "POST", body: form, credentials: "omit", cache: "no-store",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, data: data };
      });
    }, function () {
      return { ok: false, data: { detail: "Le service ne répond pas." } };
    }).then(function (answer) {
      $("sign-in").disabled = false;
      setStatus("");
      if (!answer.ok || !answer.data.access_token) {
        error.textContent = "Identifiant ou mot de passe incorrect.";
        $("password").value = "";
        $("password").focus();
        return;
      }
      state.token = answer.data.access_token;
      return api("GET", "/v1/auth/me").then(function (me) {
        if (!me.ok || me.data.role !== "adviser") {
          state.token = null;
          error.textContent = "Ce compte n'est pas un compte de conseiller.";
          return;
        }
        state.username = me.data.username;
        sessionStorage.setItem(TOKEN_KEY, state.token);
        sessionStorage.setItem(USER_KEY, state.username);
        $("password").value = "";
        loadHolders();
      });
    });
  }

  function signOut(message) {
    state.token = null;
    state.username = null;
    state.holderId = null;
    state.plan = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    resetHolderView();
    showView("signin");
    $("sign-in-error").textContent = typeof message === "string" ? message : "";
    setStatus(typeof message === "string" ? "" : "Vous êtes déconnecté.");
    $("username").focus();
  }

  // --- Holders who consent -------------------------------------------------------------------------------

  function loadHolders() {
    setStatus("Chargement des bénéficiaires…", true);
    return api("GET", "/v1/advisers/me/holders").then(function (answer) {
      if (answer.status === 401) { return; }
      if (!answer.ok) {
        setStatus(detailText(answer.data));
        return;
      }
      var body = clear($("holders-body"));
      answer.data.forEach(function (holder) {
        body.appendChild(el("tr", null,
          el("th", { scope: "row" }, holder.holder_id),
          el("td", null, dateFr(holder.granted_at)),
          el("td", null, holder.expires_at ? dateFr(holder.expires_at) : "Jusqu'au retrait"),
          el("td", null, el("button", {
            type: "button", className: "button button--small", "data-holder": holder.holder_id,
            onclick: function () { openHolder(holder.holder_id); }
          }, "Ouvrir", hiddenText(" le dossier de " + holder.holder_id)))
        ));
      });
      $("holders-table").hidden = answer.data.length === 0;
      $("holders-empty").hidden = answer.data.length > 0;
      showView("holders");
      setStatus(answer.data.length ? plural(answer.data.length, "bénéficiaire", "bénéficiaires") +
        " vous " + (answer.data.length > 1 ? "ont" : "a") + " donné leur accord." : "");
      focusHeading("beneficiaires-titre");
    });
  }

  // --- One holder ----------------------------------------------------------------------------------------

  function resetHolderView() {
    ["balances", "preferences", "skills-body", "occupations-body", "gap-list", "path-cards", "compare-head", "compare-body",
      "suggestions-list", "print-summary"].forEach(function (id) { clear($(id)); });
    clearChart();
    $("resultats").hidden = true;
    $("comparaison").hidden = true;
    $("suggestions").hidden = true;
    $("path-error").textContent = "";
    $("profile-summary").textContent = "";
    $("target").value = "";
    state.target = { label: "", uri: null };
    state.plan = null;
    state.compared = [];
  }

  function openHolder(holderId) {
    resetHolderView();
    state.holderId = holderId;
    $("holder-id").textContent = holderId;
    showView("holder");
    focusHeading("beneficiaire-titre");
    setStatus("Chargement du dossier de " + holderId + "…", true);
    var base = "/v1/holders/" + encodeURIComponent(holderId);
    var loads = [
      api("GET", base + "/account").then(renderAccount),
      Promise.all([api("GET", base + "/skills?k=40"), api("GET", base + "/experience")]).then(renderSkills),
      api("GET", base + "/preferences").then(renderPreferences),
      api("GET", base + "/occupations?k=6").then(renderOccupations)
    ];
    return Promise.all(loads).then(function (results) {
      if (state.holderId !== holderId) { return; }
      var refused = results.filter(function (r) { return r && r.status === 403; });
      if (refused.length) {
        setStatus("L'accord de ce bénéficiaire n'est plus actif : son dossier n'est plus accessible.");
        return;
      }
      setStatus("Dossier de " + holderId + " chargé.");
    });
  }

  function renderAccount(answer) {
    if (!answer.ok) { return answer; }
    var balances = answer.data.balances_cents || {};
    var list = clear($("balances"));
    append(list, [
      el("dt", null, "CPF"), el("dd", null, euros(balances.cpf || 0)),
      el("dt", null, "CEC"), el("dd", null, euros(balances.cec || 0))
    ]);
    return answer;
  }

  function provenance(skill, experiences) {
    var groups = { verified: [], declared: [] };
    skill.evidence.forEach(function (e) {
      var text;
      if (e.experience_id !== null && experiences[e.experience_id]) {
        var x = experiences[e.experience_id];
        text = "« " + x.label + " » (" + (EXPERIENCE_KINDS[x.kind] || x.kind) + ")";
      } else if (e.training_id) {
        text = e.training_title ? "formation suivie « " + e.training_title + " » (" + e.training_id + ")"
          : "formation suivie " + e.training_id;
      } else {
        text = "déclaration";
      }
      if (e.low_confidence) { text += ", rapprochement incertain"; }
      var group = groups[e.source === "verified" ? "verified" : "declared"];
      if (group.indexOf(text) < 0) { group.push(text); }
    });
    var parts = [];
    if (groups.verified.length) { parts.push("Vérifié : " + groups.verified.join(", ")); }
    if (groups.declared.length) { parts.push("Déclaré : " + groups.declared.join(", ")); }
    return parts.join(" ; ");
  }

  function renderSkills(answers) {
    var skills = answers[0];
    var experience = answers[1];
    if (!skills.ok) { return skills; }
    var experiences = {};
    if (experience.ok) { experience.data.forEach(function (x) { experiences[x.experience_id] = x; }); }
    var body = clear($("skills-body"));
    skills.data.skills.forEach(function (skill) {
      body.appendChild(el("tr", null,
        el("th", { scope: "row" }, skill.label),
        el("td", { className: "num" }, percent(skill.weight)),
        el("td", null, provenance(skill, experiences))
      ));
    });
    $("profile-summary").textContent = plural(skills.data.n_skills, "compétence", "compétences") +
      " au profil" + (skills.data.skills.length < skills.data.n_skills ?
        " ; les " + skills.data.skills.length + " plus sûres sont affichées." : ".");
    return skills;
  }

  var MODALITIES = { onsite: "en présentiel", remote: "à distance", hybrid: "hybride" };

  function renderPreferences(answer) {
    if (!answer.ok) { return answer; }
    var prefs = answer.data;
    var target = prefs.target_occupation;
    if (target && !$("target").value) { chooseTarget(target.label, target.uri); }
    var ceiling = prefs.max_out_of_pocket_cents;
    var list = clear($("preferences"));
    [
      ["Modalité", prefs.preferred_modality ? MODALITIES[prefs.preferred_modality] || prefs.preferred_modality : "aucune"],
      ["Région pour se former", prefs.preferred_region_name || "celle où il habite"],
      ["Reste à charge maximal", ceiling === null || ceiling === undefined ? "non fixé" : euros(ceiling)],
      ["Suggestions personnalisées", prefs.personalisation_enabled ? "oui" : "non"]
    ].forEach(function (pair) { list.appendChild(el("dt", null, pair[0])); list.appendChild(el("dd", null, pair[1])); });
    return answer;
  }

  function chooseTarget(label, uri) {
    state.target = { label: label, uri: uri };
    $("target").value = label;
  }

  function renderOccupations(answer) {
    if (!answer.ok) { return answer; }
    var body = clear($("occupations-body"));
    answer.data.items.forEach(function (item) {
      var typical = item.typical_path;
      body.appendChild(el("tr", null,
        el("th", { scope: "row" }, item.label, item.is_target ? el("span", { className: "badge", text: "Cible actuelle" }) : null),
        el("td", { className: "num" }, item.skills_held + " (" + percent(item.coverage) + ")"),
        el("td", { className: "num" }, String(item.missing_skills)),
        el("td", { className: "num" }, typical ? euros(typical.out_of_pocket_cents) +
          " pour " + percent(typical.gap_coverage) + " du manque" :
          (item.typical_path_status === "no_path" ? "Aucune formation ouverte n'y mène" : "Non calculé")),
        el("td", null, el("button", {
          type: "button", className: "button button--small button--quiet",
          onclick: function () { chooseTarget(item.label, item.uri); requestPaths(); }
        }, "Viser", hiddenText(" le métier " + item.label)))
      ));
    });
    $("occupations-table").hidden = answer.data.items.length === 0;
    $("occupations-empty").hidden = answer.data.items.length > 0;
    return answer;
  }

  // --- Paths ---------------------------------------------------------------------------------------------

  function pathRequestBody() {
    var text = $("target").value.trim();
    var body = {
      target_occupation: state.target.uri && text === state.target.label ? state.target.uri : text,
      max_steps: parseInt($("max-steps").value, 10)
    };
    var maxHours = $("max-hours").value.trim();
    if (maxHours) { body.max_hours = Number(maxHours.replace(",", ".")); }
    var budget = $("budget").value.trim();
    if (budget) { body.budget_cents = Math.round(Number(budget.replace(",", ".")) * 100); }
    return body;
  }

  function requestPaths(event) {
    if (event) { event.preventDefault(); }
    var error = $("path-error");
    error.textContent = "";
    $("suggestions").hidden = true;
    if (!$("target").value.trim()) {
      error.textContent = "Indiquez le métier visé.";
      $("target").focus();
      return Promise.resolve();
    }
    var body = pathRequestBody();
    if ((body.max_hours !== undefined && !(body.max_hours > 0)) ||
        (body.budget_cents !== undefined && !(body.budget_cents >= 0))) {
      error.textContent = "Les heures doivent être positives et le budget positif ou nul.";
      return Promise.resolve();
    }
    var holderId = state.holderId;
    var seq = ++state.requestSeq;
    $("request-paths").disabled = true;
    setStatus("Calcul des parcours…", true);
    return api("POST", "/v1/holders/" + encodeURIComponent(holderId) + "/paths", body).then(function (answer) {
      if (seq !== state.requestSeq || holderId !== state.holderId) { return; }
      $("request-paths").disabled = false;
      if (answer.status === 404 && answer.data && answer.data.detail && answer.data.detail.suggestions) {
        setStatus("");
        showSuggestions(answer.data.detail);
        return;
      }
      if (answer.status === 403) {
        setStatus("");
        error.textContent = "L'accord de ce bénéficiaire n'est plus actif : son dossier n'est plus accessible.";
        return;
      }
      if (!answer.ok) {
        setStatus("");
        error.textContent = answer.status === 422 ? "Vérifiez les champs : " + detailText(answer.data) :
          detailText(answer.data);
        return;
      }
      renderPlan(answer.data);
      setStatus(answer.data.message);
      focusHeading("resultats-titre");
    });
  }

  function showSuggestions(detail) {
    var list = clear($("suggestions-list"));
    $("path-error").textContent = detail.message;
    if (!detail.suggestions.length) { return; }
    detail.suggestions.forEach(function (s) {
      list.appendChild(el("li", null, el("button", {
        type: "button", className: "button button--small button--quiet",
        onclick: function () { chooseTarget(s.label, s.uri); requestPaths(); }
      }, s.label)));
    });
    $("suggestions").hidden = false;
    list.querySelector("button").focus();
  }

  function kindsOf(path) {
    return path.kinds.map(function (k) { return KIND_LABELS[k] || k; });
  }

  function series(index) { return "series-" + ((index % 4) + 1); }

  function coverageBar(share) {
    var width = Math.max(0, Math.min(100, share * 100));
    return svg("svg", { className: "coverage__bar", viewBox: "0 0 100 6", preserveAspectRatio: "none",
      "aria-hidden": "true", focusable: "false" },
    svg("rect", { className: "track", x: 0, y: 0, width: 100, height: 6, rx: 3 }),
    svg("rect", { className: "fill", x: 0, y: 0, width: width.toFixed(2), height: 6, rx: 3 }));
  }

  function stepCost(step) {
    var parts = ["Prix " + euros(step.price_cents)];
    if (step.cost.cpf_cents) { parts.push("CPF " + euros(step.cost.cpf_cents)); }
    if (step.cost.cec_cents) { parts.push("CEC " + euros(step.cost.cec_cents)); }
    if (step.cost.topups_cents) { parts.push("abondements " + euros(step.cost.topups_cents)); }
    parts.push("reste à charge " + euros(step.cost.out_of_pocket_cents));
    return parts.join(" · ");
  }

  // The planner's reasons about the step's cost repeat the cost line: the skills and prerequisites ones stay.
  var COST_REASON = /^(Reste à charge|Sans reste à charge|Formation gratuite)/;

  function skillReasons(step) {
    return step.reasons.filter(function (r) { return !COST_REASON.test(r); });
  }

  function skillNames(skills, limit) {
    var names = skills.slice(0, limit).map(function (s) { return s.label; });
    if (skills.length > limit) { names.push("et " + (skills.length - limit) + " autre" + (skills.length - limit > 1 ? "s" : "")); }
    return names.join(", ");
  }

  function pathCard(path, index) {
    var number = index + 1;
    var titleId = "path-" + number + "-title";
    var checkbox = el("input", { type: "checkbox", id: "compare-" + number, "data-path": index,
      onchange: function (event) { toggleCompare(index, event.target.checked); } });
    checkbox.checked = state.compared.indexOf(index) >= 0;
    return el("article", { className: "path-card " + series(index), "aria-labelledby": titleId, id: "path-" + number },
      el("h3", { id: titleId }, "Parcours " + number),
      el("ul", { className: "badges", "aria-label": "Objectifs atteints" },
        kindsOf(path).map(function (k) { return el("li", { className: "badge" }, k); })),
      el("dl", { className: "path-figures" },
        el("div", null, el("dt", null, "Étapes"), el("dd", null, String(path.steps.length))),
        el("div", null, el("dt", null, "Heures"), el("dd", null, hours(path.hours))),
        el("div", null, el("dt", null, "Coût total"), el("dd", null, euros(path.total_cost_cents))),
        el("div", { className: "highlight" }, el("dt", null, "Reste à charge"), el("dd", { className: "out-of-pocket" }, euros(path.out_of_pocket_cents)))),
      el("div", { className: "coverage" },
        el("p", null, "Couverture du manque de compétences : ", el("strong", null, percent(path.gap_coverage))),
        coverageBar(path.gap_coverage)),
      el("ol", { className: "steps", "aria-label": "Étapes du parcours " + number },
        path.steps.map(function (step) {
          return el("li", null,
            el("h4", null, step.title || step.training_id),
            el("p", { className: "meta" }, "Du " + dateFr(step.session_start) + " au " + dateFr(step.session_end) +
              " · " + hours(step.hours) + " · " + step.training_id),
            el("p", { className: "cost" }, stepCost(step)),
            el("ul", { className: "reasons" }, skillReasons(step).map(function (r) { return el("li", null, r); })));
        })),
      el("p", { className: "skills-gained" }, el("strong", null, "Compétences acquises"),
        path.skills_gained.length ? skillNames(path.skills_gained, 6) : "Aucune compétence du manque."),
      path.notes.length ? el("ul", { className: "notes" }, path.notes.map(function (n) { return el("li", null, n); })) : null,
      el("div", { className: "card-actions" },
        el("label", { className: "check", "for": "compare-" + number }, checkbox, "Comparer"),
        el("button", { type: "button", className: "button button--small button--quiet",
          onclick: function () { printPath(index); } }, "Imprimer", hiddenText(" le parcours " + number))));
  }

  function renderPlan(plan) {
    state.plan = plan;
    state.compared = plan.paths.slice(0, MAX_COMPARED).map(function (_p, i) { return i; });
    $("target-label").textContent = plan.target.label;
    $("plan-message").textContent = plan.message;
    var budget = "Budget : " + euros(plan.budget_cents) + " de droits et de reste à charge";
    if (plan.topups_cents) { budget += ", plus " + euros(plan.topups_cents) + " d'abondements en attente"; }
    if (plan.max_out_of_pocket_cents !== null && plan.max_out_of_pocket_cents !== undefined) {
      budget += " ; reste à charge limité à " + euros(plan.max_out_of_pocket_cents) +
        " par le bénéficiaire (participation forfaitaire comprise)";
    }
    $("plan-budget").textContent = budget + ".";
    var gap = clear($("gap-list"));
    plan.gap.forEach(function (g) {
      gap.appendChild(el("li", { className: g.essential ? "essential" : "" }, g.label,
        g.essential ? hiddenText(" (essentielle)") : null));
    });
    $("gap-summary").textContent = "Compétences manquantes pour ce métier (" + plan.gap.length + ")";
    var cards = clear($("path-cards"));
    plan.paths.forEach(function (path, index) { cards.appendChild(pathCard(path, index)); });
    $("resultats").hidden = false;
    renderComparison();
  }

  function toggleCompare(index, checked) {
    var at = state.compared.indexOf(index);
    if (checked && at < 0) { state.compared.push(index); }
    if (!checked && at >= 0) { state.compared.splice(at, 1); }
    state.compared.sort(function (a, b) { return a - b; });
    renderComparison();
  }

  function renderComparison() {
    var plan = state.plan;
    var section = $("comparaison");
    if (!plan || plan.paths.length < 2) { section.hidden = true; return; }
    section.hidden = false;
    var full = state.compared.length >= MAX_COMPARED;
    plan.paths.forEach(function (_path, index) {
      var box = $("compare-" + (index + 1));
      var on = state.compared.indexOf(index) >= 0;
      box.checked = on;
      box.disabled = full && !on;
      $("path-" + (index + 1)).classList.toggle("is-compared", on);
    });
    $("compare-help").textContent = state.compared.length < 2 ?
      "Cochez « Comparer » sur deux ou trois parcours." :
      plural(state.compared.length, "parcours comparé", "parcours comparés") + " (trois au plus).";
    renderCompareTable();
    renderChart();
  }

  function compareRows(paths) {
    return [
      ["Objectifs", function (p) { return kindsOf(p).join(", "); }],
      ["Étapes", function (p) { return String(p.steps.length); }, true],
      ["Heures", function (p) { return hours(p.hours); }, true],
      ["Dates", function (p) { return p.start ? dateFr(p.start) + " – " + dateFr(p.end) : "—"; }],
      ["Coût total", function (p) { return euros(p.total_cost_cents); }, true],
      ["Droits CPF utilisés", function (p) { return euros(p.cpf_cents); }, true],
      ["Droits CEC utilisés", function (p) { return euros(p.cec_cents); }, true],
      ["Abondements", function (p) { return euros(p.topups_cents); }, true],
      ["Reste à charge", function (p) { return euros(p.out_of_pocket_cents); }, true],
      ["Couverture du manque", function (p) { return percent(p.gap_coverage); }, true],
      ["Compétences acquises", function (p) {
        return p.skills_gained.length ? p.skills_gained.length + " : " + skillNames(p.skills_gained, 3) : "—";
      }, "small"]
    ].map(function (row) {
      return el("tr", null, el("th", { scope: "row" }, row[0]), paths.map(function (p) {
        return el("td", { className: row[2] === true ? "num" : row[2] || "" }, row[1](p.path));
      }));
    });
  }

  function comparedPaths() {
    return state.compared.map(function (index) {
      return { index: index, path: state.plan.paths[index] };
    });
  }

  function renderCompareTable() {
    var paths = comparedPaths();
    var head = clear($("compare-head"));
    var body = clear($("compare-body"));
    if (!paths.length) { return; }
    head.appendChild(el("tr", null, el("th", { scope: "col" }, "Critère"), paths.map(function (p) {
      return el("th", { scope: "col" }, el("span", { className: "swatch " + series(p.index), "aria-hidden": "true" }),
        "Parcours " + (p.index + 1));
    })));
    append(body, compareRows(paths));
  }

  // --- Chart: gap coverage against cost (inline SVG) -------------------------------------------------------

  var CHART = { width: 560, height: 330, left: 64, right: 28, top: 20, bottom: 58 };

  function clearChart() {
    var chart = $("chart");
    Array.prototype.slice.call(chart.childNodes).forEach(function (node) {
      if (node.nodeName !== "title" && node.nodeName !== "desc") { chart.removeChild(node); }
    });
    $("chart-desc").textContent = "";
  }

  function niceStep(max, ticks) {
    var raw = max / ticks;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var candidates = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < candidates.length; i++) {
      if (candidates[i] * power >= raw) { return candidates[i] * power; }
    }
    return 10 * power;
  }

  function axisField() {
    return $("axis-oop").checked ? "out_of_pocket_cents" : "total_cost_cents";
  }

  function renderChart() {
    clearChart();
    var paths = comparedPaths();
    var chart = $("chart");
    var field = axisField();
    var costName = field === "out_of_pocket_cents" ? "Reste à charge" : "Coût total";
    var plotW = CHART.width - CHART.left - CHART.right;
    var plotH = CHART.height - CHART.top - CHART.bottom;
    var maxCost = Math.max.apply(null, [100].concat(paths.map(function (p) { return p.path[field]; })));
    var step = niceStep(maxCost / 100, 4) * 100;
    var top = Math.ceil((maxCost * 1.05) / step) * step;
    function x(cents) { return CHART.left + plotW * cents / top; }
    function y(share) { return CHART.top + plotH * (1 - share); }

    var layer = svg("g", null);
    for (var p = 0; p <= 100; p += 25) {
      layer.appendChild(svg("line", { className: "grid-line", x1: CHART.left, x2: CHART.left + plotW, y1: y(p / 100), y2: y(p / 100) }));
      layer.appendChild(svg("text", { className: "tick", x: CHART.left - 8, y: y(p / 100) + 4, "text-anchor": "end" }, percent(p / 100)));
    }
    for (var c = 0; c <= top + 1e-6; c += step) {
      layer.appendChild(svg("line", { className: "grid-line", x1: x(c), x2: x(c), y1: CHART.top, y2: CHART.top + plotH }));
      layer.appendChild(svg("text", { className: "tick", x: x(c), y: CHART.top + plotH + 18, "text-anchor": "middle" }, eurosRound(c)));
    }
    layer.appendChild(svg("line", { className: "axis", x1: CHART.left, x2: CHART.left + plotW, y1: CHART.top + plotH, y2: CHART.top + plotH }));
    layer.appendChild(svg("line", { className: "axis", x1: CHART.left, x2: CHART.left, y1: CHART.top, y2: CHART.top + plotH }));
    layer.appendChild(svg("text", { className: "axis-label", x: CHART.left + plotW / 2, y: CHART.height - 12, "text-anchor": "middle" }, costName));
    layer.appendChild(svg("text", { className: "axis-label", x: 16, y: CHART.top + plotH / 2, "text-anchor": "middle",
      transform: "rotate(-90 16 " + (CHART.top + plotH / 2) + ")" }, "Couverture du manque"));
    chart.appendChild(layer);

    var sorted = paths.slice().sort(function (a, b) { return a.path[field] - b.path[field]; });
    if (sorted.length > 1) {
      chart.appendChild(svg("polyline", { className: "frontier", "aria-hidden": "true", points: sorted.map(function (p) {
        return x(p.path[field]).toFixed(1) + "," + y(p.path.gap_coverage).toFixed(1);
      }).join(" ") }));
    }
    var described = [];
    paths.forEach(function (p) {
      var name = "Parcours " + (p.index + 1);
      var text = name + " : " + costName.toLowerCase() + " " + euros(p.path[field]) + ", couverture " +
        percent(p.path.gap_coverage);
      described.push(text);
      var cx = x(p.path[field]);
      var cy = y(p.path.gap_coverage);
      chart.appendChild(svg("g", { className: "point-group " + series(p.index), "data-path": p.index },
        svg("circle", { className: "point " + series(p.index), cx: cx.toFixed(1), cy: cy.toFixed(1), r: 8 },
          svg("title", null, text)),
        svg("text", { className: "point-label " + series(p.index), x: (cx + 12).toFixed(1),
          y: (cy - 10).toFixed(1), "aria-hidden": "true" }, "P" + (p.index + 1))));
    });
    $("chart-desc").textContent = described.length ? described.join(" ; ") + "." : "Aucun parcours sélectionné.";
  }

  // --- Print one path ----------------------------------------------------------------------------------------

  function printPath(index) {
    var plan = state.plan;
    var path = plan.paths[index];
    var summary = clear($("print-summary"));
    append(summary, [
      el("h1", null, "Parcours de formation vers « " + plan.target.label + " »"),
      el("p", { className: "print-meta" }, "Bénéficiaire " + plan.holder_id + " · préparé le " +
        dateFormat.format(new Date()) + (state.username ? " par " + state.username : "") + " · Parcours " +
        (index + 1) + " (" + kindsOf(path).join(", ").toLowerCase() + ")"),
      el("table", null,
        el("caption", { className: "visually-hidden" }, "Synthèse du parcours"),
        el("tbody", null,
          el("tr", null, el("th", { scope: "row" }, "Étapes"), el("td", { className: "num" }, String(path.steps.length))),
          el("tr", null, el("th", { scope: "row" }, "Heures"), el("td", { className: "num" }, hours(path.hours))),
          el("tr", null, el("th", { scope: "row" }, "Coût total"), el("td", { className: "num" }, euros(path.total_cost_cents))),
          el("tr", null, el("th", { scope: "row" }, "Droits CPF utilisés"), el("td", { className: "num" }, euros(path.cpf_cents))),
          el("tr", null, el("th", { scope: "row" }, "Droits CEC utilisés"), el("td", { className: "num" }, euros(path.cec_cents))),
          el("tr", null, el("th", { scope: "row" }, "Abondements"), el("td", { className: "num" }, euros(path.topups_cents))),
          el("tr", null, el("th", { scope: "row" }, "Reste à charge"), el("td", { className: "num" }, euros(path.out_of_pocket_cents))),
          el("tr", null, el("th", { scope: "row" }, "Couverture du manque"), el("td", { className: "num" }, percent(path.gap_coverage))))),
      el("h2", null, "Étapes"),
      el("table", null,
        el("thead", null, el("tr", null, ["Étape", "Formation", "Session", "Heures", "Prix", "Reste à charge"].map(function (h) {
          return el("th", { scope: "col" }, h);
        }))),
        el("tbody", null, path.steps.map(function (step, i) {
          return el("tr", null,
            el("td", null, String(i + 1)),
            el("td", null, step.title + " (" + step.training_id + ")", el("br"), skillReasons(step).join(" · ")),
            el("td", null, dateFr(step.session_start) + " – " + dateFr(step.session_end)),
            el("td", { className: "num" }, hours(step.hours)),
            el("td", { className: "num" }, euros(step.price_cents)),
            el("td", { className: "num" }, euros(step.cost.out_of_pocket_cents)));
        }))),
      el("h2", null, "Compétences acquises"),
      el("p", null, path.skills_gained.map(function (s) { return s.label; }).join(", ") || "—"),
      el("h2", null, "Compétences restant à acquérir"),
      el("p", null, path.remaining_gap.map(function (s) { return s.label; }).join(", ") || "Aucune."),
      el("p", { className: "print-meta" }, "Montants estimés selon les droits disponibles ce jour ; ils seront confirmés à l'inscription.")
    ]);
    document.body.classList.add("printing");
    window.print();
  }

  // --- Start -------------------------------------------------------------------------------------------------

  function start() {
    $("sign-in-form").addEventListener("submit", signIn);
    $("path-form").addEventListener("submit", requestPaths);
    $("sign-out").addEventListener("click", function () { signOut(); });
    $("nav-holders").addEventListener("click", function (event) { event.preventDefault(); loadHolders(); });
    $("nav-holder").addEventListener("click", function (event) {
      event.preventDefault();
      showView("holder");
      focusHeading("beneficiaire-titre");
    });
    $("target").addEventListener("input", function () {
      if ($("target").value.trim() !== state.target.label) { state.target = { label: "", uri: null }; }
    });
    $("axis-total").addEventListener("change", renderChart);
    $("axis-oop").addEventListener("change", renderChart);
    window.addEventListener("afterprint", function () { document.body.classList.remove("printing"); });
    state.token = sessionStorage.getItem(TOKEN_KEY);
    state.username = sessionStorage.getItem(USER_KEY);
    if (state.token) { loadHolders(); } else { showView("signin"); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
