/*
 * The livefeed admin console.
 *
 * Every change is a form posted to /admin/... with the session's CSRF token;
 * the server publishes it through the same path as POST /api/publish and
 * answers with the event's ID. The console watches the feed itself
 * (GET /events?topic=*) to show the games, the prices and what goes out,
 * and asks /admin/audience how many watch each of them.
 * Feed text is only ever written with textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  var csrf = "";          // the token every form carries
  var feed = null;        // the console's EventSource
  var feedToken = "";     // a subscriber token for private topics, from the session
  var feedLast = "";      // the feed's last event ID, to resume a new EventSource
  var games = new Map();   // topic → { node, data, id, time, rank }
  var leagues = new Map(); // league (a topic's first segment) → { node, cards, rank }
  var symbols = new Map(); // topic → { node, data, id }
  var topics = new Set();
  var stale = new Map();   // topic → since (text): the watched topics gone silent
  var heard = null;        // topics the feed spoke of while /api/topics was asked
  var history = { pages: [], current: "" };
  var query = "";          // what the search box holds, lower case

  var $ = function (sel, from) { return (from || document).querySelector(sel); };

  // ---- talking to the server -----------------------------------------

  // post sends a form (an object of fields) with the CSRF token and returns
  // the JSON answer; a failure rejects with the server's message. With a
  // key, the request carries it as its Idempotency-Key: sent again with
  // the same key, the server answers as it did the first time.
  function post(path, fields, key) {
    var body = new URLSearchParams(fields);
    body.set("csrf", csrf);
    var headers = { "Content-Type": "application/x-www-form-urlencoded" };
    if (key) headers["Idempotency-Key"] = '"' + key + '"';
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: headers,
      body: body
    }).then(answer, function () {
      // fetch rejects only when no answer came: the network, or the
      // server down. Whether the request reached it is unknown.
      var err = new Error("The server cannot be reached.");
      err.unreachable = true;
      throw err;
    });
  }

  // newKey returns a fresh random key for one tap. crypto.randomUUID is
  // only there on https and localhost; getRandomValues is everywhere.
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  // sendTap posts one tap until the server answers it: each tap has its
  // own key, and while the server cannot be reached (or says its storage
  // is unavailable, which means nothing was written) the tap is kept and
  // sent again with that key, so it counts exactly once however many
  // attempts reached the server. waiting is told of each failed attempt.
  function sendTap(path, values, waiting) {
    var key = newKey();
    var delay = 1000;
    function attempt() {
      return post(path, values, key).catch(function (err) {
        if (!err.unreachable && err.status !== 503) throw err;
        waiting(err, delay);
        return new Promise(function (resolve) { setTimeout(resolve, delay); }).then(function () {
          delay = Math.min(delay * 2, 10000);
          return attempt();
        });
      });
    }
    return attempt();
  }

  function answer(resp) {
    return resp.json().catch(function () { return {}; }).then(function (json) {
      if (resp.ok) return json;
      var err = new Error(json.error || resp.status + " " + resp.statusText);
      err.status = resp.status;
      if (resp.status === 401 && csrf) setTimeout(loadSession, 0); // the session ended
      throw err;
    });
  }

  function notice(text, bad) {
    var n = $("#notice");
    n.textContent = text;
    n.className = "notice" + (bad ? " bad" : " good");
  }

  function fields(form) {
    var out = {};
    new FormData(form).forEach(function (v, k) { out[k] = typeof v === "string" ? v.trim() : v; });
    return out;
  }

  // ---- signing in and out ---------------------------------------------

  function loadSession() {
    return fetch("/admin/session", { credentials: "same-origin" }).then(answer, function () {
      throw new Error("the server cannot be reached; reload the page to try again.");
    }).then(showSession, function (err) {
      notice("Cannot sign in: " + err.message, true);
    });
  }

  function showSession(s) {
    csrf = s.csrf;
    feedToken = s.feed_token || "";
    $("#signin").hidden = s.signed_in;
    $("#console").hidden = !s.signed_in;
    $("#who").hidden = !s.signed_in;
    $("#operator").textContent = s.signed_in ? s.operator : "";
    if (s.signed_in) {
      watchFeed();
      loadTopics();
      watchAudience();
      history.pages = [];
      loadHistory(historyURL($("#history-topic").value), $("#history-topic").value);
    } else {
      if (feed) { feed.close(); feed = null; }
      stopAudience();
      $("#builder").open = false; // its preview's stream ends
      $("#login-form input[name=name]").focus();
    }
  }

  $("#login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target;
    post("/admin/login", fields(form)).then(function (s) {
      form.reset();
      notice("Signed in as " + s.operator + ".");
      showSession(s);
    }, function (err) {
      notice(err.message, true);
      if (err.status === 403) loadSession(); // a fresh sign-in token
    });
  });

  $("#logout-form").addEventListener("submit", function (e) {
    e.preventDefault();
    post("/admin/logout", {}).then(function () {
      notice("Signed out.");
      return loadSession();
    }, function (err) { notice(err.message, true); });
  });

  // ---- creating games and symbols ---------------------------------------

  $("#game-form").addEventListener("submit", function (e) {
    e.preventDefault();
    submit(e.target, "/admin/games", fields(e.target), function (ans) {
      e.target.reset();
      return "Created " + ans.event.topic;
    });
  });

  $("#symbol-form").addEventListener("submit", function (e) {
    e.preventDefault();
    submit(e.target, "/admin/symbols", fields(e.target), function (ans) {
      e.target.reset();
      $("#new-symbol").open = false;
      return "Created " + ans.event.topic;
    });
  });

  // submit posts a form as one tap (see sendTap), keeping its buttons
  // disabled until the server answered so that a double tap does not push
  // twice, and reports the published ID. While the server cannot be
  // reached it says so, and that the tap is kept.
  function submit(container, path, values, describe, pushedLine) {
    var buttons = container.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    container.classList.add("pending");
    return sendTap(path, values, function (err, delay) {
      var text = err.unreachable
        ? "The server cannot be reached. Your change is kept and sent again in " + Math.round(delay / 1000) + " s; it will count once."
        : "The server cannot store updates right now. Your change is kept and sent again in " + Math.round(delay / 1000) + " s.";
      notice(text, true);
      if (pushedLine) pushedLine.textContent = "Waiting for the server…";
    }).then(function (ans) {
      var text = describe(ans) + " — published #" + ans.id;
      notice(text);
      if (pushedLine) pushedLine.textContent = "Published #" + ans.id;
      return ans;
    }, function (err) {
      notice(err.message, true);
      if (pushedLine) pushedLine.textContent = err.message;
      return null;
    }).then(function (ans) {
      container.classList.remove("pending");
      buttons.forEach(function (b) { b.disabled = false; });
      return ans;
    });
  }

  // ---- the games ------------------------------------------------------

  // rank orders a game by its status: live first, then scheduled, then
  // final.
  function rank(status) {
    if (status === "final") return 2;
    if (!status || status === "scheduled") return 1;
    return 0;
  }

  function leagueOf(topic) { return topic.split("/")[0]; }

  // dayRank orders games of the same status by the day their topic names
  // (a segment YYYY-MM-DD): today's first, then the days to come and games
  // with no day, then earlier days. today is the console's local date.
  function dayRank(topic, today) {
    var m = /(?:^|\/)(\d{4}-\d{2}-\d{2})(?:\/|$)/.exec(topic);
    if (m && m[1] === today) return 0;
    return !m || m[1] > today ? 1 : 2;
  }

  function localDay() {
    var d = new Date();
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  // byTopic compares topics as people read them: g2 before g10.
  var collator = new Intl.Collator(undefined, { numeric: true });
  function byTopic(a, b) { return collator.compare(a, b); }

  // A game's final score moved: ask before scoring it again.
  function finalOK(g, values) {
    if (!g || g.data.status !== "final") return true;
    if (!confirm(matchup(g.data) + " is final. Change its score anyway?")) return false;
    values.final_ok = "1";
    return true;
  }

  function matchup(d) { return text(d.home) + " vs " + text(d.away); }

  function gameCard(topic) {
    var node = $("#game-card").content.firstElementChild.cloneNode(true);
    node.setAttribute("data-topic", topic);
    $(".topic", node).textContent = topic;
    var pushed = $(".pushed", node);
    var score = function (values, what) {
      values.topic = topic;
      var g = games.get(topic);
      if (!finalOK(g, values)) return null;
      return submit(node, "/admin/score", values, what || function (ans) {
        var d = ans.event.data;
        return text(d.home) + " " + d.home_score + " – " + d.away_score + " " + text(d.away);
      }, pushed);
    };
    node.querySelectorAll("button[data-side]").forEach(function (b) {
      b.addEventListener("click", function () {
        var values = {};
        values[b.getAttribute("data-side") + "_points"] = b.getAttribute("data-points");
        score(values);
      });
    });
    var state = $(".state-form", node);
    state.addEventListener("submit", function (e) {
      e.preventDefault();
      var values = fields(state);
      Object.keys(values).forEach(function (k) { if (values[k] === "") delete values[k]; });
      values.topic = topic;
      // The form keeps what was typed: the next change starts from it.
      submit(node, "/admin/score", values, function () { return "Updated " + topic; }, pushed).then(function (ans) {
        if (ans) state.elements.status.value = "";
      });
    });
    node.querySelectorAll("button[data-clock]").forEach(function (b) {
      b.addEventListener("click", function () {
        var values = { topic: topic, clock_run: b.getAttribute("data-clock") };
        var typed = state.elements.clock.value.trim();
        if (typed && values.clock_run !== "stop") values.clock = typed;
        submit(node, "/admin/score", values, function () {
          return (values.clock_run === "stop" ? "Stopped the clock of " : "Started the clock of ") + topic;
        }, pushed).then(function (ans) { if (ans) state.elements.clock.value = ""; });
      });
    });
    node.querySelectorAll("button[data-clear]").forEach(function (b) {
      b.addEventListener("click", function () {
        var name = b.getAttribute("data-clear");
        submit(node, "/admin/score", { topic: topic, clear: name }, function () { return "Cleared the " + name + " of " + topic; }, pushed).then(function (ans) {
          if (ans) state.elements[name].value = "";
        });
      });
    });
    var set = $(".set-form", node);
    set.addEventListener("submit", function (e) {
      e.preventDefault();
      var p = score(fields(set), function (ans) {
        var d = ans.event.data;
        return "Set " + text(d.home) + " " + d.home_score + " – " + d.away_score + " " + text(d.away);
      });
      if (p) p.then(function (ans) { if (ans) set.reset(); });
    });
    $(".undo", node).addEventListener("click", function () {
      var g = games.get(topic);
      if (!g || !confirm("Undo the last push of " + matchup(g.data) + " (#" + g.id + ")? Viewers see the game as it was before it.")) return;
      submit(node, "/admin/undo", { topic: topic, id: String(g.id) }, function (ans) {
        var d = ans.event.data;
        return "Undone: " + text(d.home) + " " + d.home_score + " – " + d.away_score + " " + text(d.away);
      }, pushed);
    });
    $(".archive", node).addEventListener("click", function () {
      var g = games.get(topic);
      if (!confirm("End and archive " + (g ? matchup(g.data) : topic) + "? It leaves the console and the widgets; its history stays.")) return;
      submit(node, "/admin/archive", { topic: topic }, function () { return "Archived " + topic; }, pushed);
    });
    return node;
  }

  function leagueSection(name) {
    var l = leagues.get(name);
    if (l) return l;
    var node = $("#league").content.firstElementChild.cloneNode(true);
    node.setAttribute("data-league", name);
    $(".name", node).textContent = name;
    // Final games sit folded away at the end of their league.
    l = { node: node, cards: $(".cards", node), finals: $(".finals", node), rank: 3 };
    l.finalCards = $(".cards", l.finals);
    leagues.set(name, l);
    return l;
  }

  function showGame(env) {
    var g = games.get(env.topic);
    if (!g) {
      g = { node: gameCard(env.topic), data: {}, rank: -1 };
      games.set(env.topic, g);
      leagueSection(leagueOf(env.topic)).cards.appendChild(g.node);
      markStale(env.topic);
      showViewers(g.node, env.topic);
    }
    var d = env.data;
    g.data = d;
    g.id = env.id;
    g.time = Date.parse(env.time);
    var n = g.node;
    var home = text(d.home), away = text(d.away);
    setText($(".team.home", n), home, true);
    setText($(".team.away", n), away, true);
    setText($(".label.home", n), home, true);
    setText($(".label.away", n), away, true);
    $(".score.home", n).textContent = text(d.home_score);
    $(".score.away", n).textContent = text(d.away_score);
    var status = $(".pill.status", n);
    status.textContent = text(d.status);
    status.className = "pill status " + text(d.status);
    n.classList.toggle("is-final", d.status === "final");
    showInfo(g);
    var r = rank(d.status);
    if (r !== g.rank) {
      g.rank = r;
      reorder("games");
    }
  }

  // setText sets an element's text and, where it may be cut off with an
  // ellipsis, its title, so the whole of it shows on hover or a long tap.
  function setText(el, s, titled) {
    el.textContent = s;
    if (titled) el.title = s;
  }

  // showInfo writes a game's period and clock; a running clock is worked
  // out from the time of the game's latest event.
  function showInfo(g) {
    var d = g.data, info = [];
    if (d.period !== undefined && d.period !== null) info.push("period " + text(d.period));
    var clock = clockNow(d, g.time);
    if (clock) info.push(clock + (d.clock_running === "down" ? " ▼" : d.clock_running === "up" ? " ▲" : ""));
    $(".info", g.node).textContent = info.join(" · ") || " ";
  }

  // clockNow returns the clock a game shows now: its clock, run down or
  // up by the time since its event while it runs.
  function clockNow(d, time) {
    var clock = text(d.clock);
    var m = /^(\d{1,3}):(\d\d)$/.exec(clock);
    if (!m || (d.clock_running !== "down" && d.clock_running !== "up") || !time) return clock;
    var secs = Number(m[1]) * 60 + Number(m[2]);
    var elapsed = Math.max(0, Math.floor((Date.now() - time) / 1000));
    secs = d.clock_running === "down" ? Math.max(0, secs - elapsed) : secs + elapsed;
    return Math.floor(secs / 60) + ":" + String(secs % 60).padStart(2, "0");
  }

  setInterval(function () {
    games.forEach(function (g) { if (g.data.clock_running) showInfo(g); });
  }, 1000);

  function removeTopic(topic) {
    var g = games.get(topic);
    if (g) { g.node.remove(); games.delete(topic); reorder("games"); }
    var s = symbols.get(topic);
    if (s) { s.node.remove(); symbols.delete(topic); reorder("symbols"); }
  }

  // reorder puts the cards in order once the current burst of events
  // (the snapshot of a hundred games) has been shown.
  // Games and symbols are ordered apart: a game going live does not move
  // five hundred symbol cards.
  var ordering = 0, dirty = { games: false, symbols: false };
  function reorder(what) {
    if (what) dirty[what] = true; else dirty.games = dirty.symbols = true;
    if (!ordering) ordering = setTimeout(order, 0);
  }

  function matches(s) { return !query || s.toLowerCase().indexOf(query) >= 0; }

  function order() {
    ordering = 0;
    if (dirty.games) orderGames();
    if (dirty.symbols) orderSymbols();
    dirty.games = dirty.symbols = false;
  }

  function orderGames() {
    var today = localDay();
    var byLeague = new Map();
    games.forEach(function (g, topic) {
      var name = leagueOf(topic);
      if (!byLeague.has(name)) byLeague.set(name, []);
      byLeague.get(name).push({ topic: topic, g: g });
    });
    var list = [];
    leagues.forEach(function (l, name) {
      var items = byLeague.get(name);
      if (!items) { l.node.remove(); leagues.delete(name); return; }
      items.sort(function (a, b) {
        return a.g.rank - b.g.rank || dayRank(a.topic, today) - dayRank(b.topic, today) || byTopic(a.topic, b.topic);
      });
      var shown = 0, finals = 0;
      items.forEach(function (it) {
        var d = it.g.data;
        it.g.node.hidden = !matches(it.topic + " " + text(d.home) + " " + text(d.away));
        if (!it.g.node.hidden) shown++;
        if (it.g.rank === 2) {
          finals++;
          l.finalCards.appendChild(it.g.node);
        } else {
          l.cards.appendChild(it.g.node);
        }
      });
      l.finals.hidden = finals === 0;
      $(".count", l.finals).textContent = "(" + finals + ")";
      // A search shows the final games it finds; clearing it folds them
      // again, unless the operator had opened them.
      if (query && !l.finals.open) {
        l.finals.open = l.openedBySearch = true;
      } else if (!query && l.openedBySearch) {
        l.finals.open = l.openedBySearch = false;
      }
      l.rank = items[0].g.rank;
      l.node.hidden = shown === 0;
      $("h3 .count", l.node).textContent = "(" + (shown === items.length ? items.length : shown + " of " + items.length) + ")";
      list.push({ name: name, l: l });
    });
    list.sort(function (a, b) { return a.l.rank - b.l.rank || byTopic(a.name, b.name); });
    var box = $("#games");
    list.forEach(function (it) { box.appendChild(it.l.node); });
    var empty = $(".empty", box);
    if (empty) empty.hidden = games.size > 0;
    $("#games-count").textContent = games.size ? String(games.size) : "";
  }

  function orderSymbols() {
    var sbox = $("#symbols");
    var keys = Array.from(symbols.keys()).sort(byTopic);
    keys.forEach(function (topic) {
      var s = symbols.get(topic);
      s.node.hidden = !matches(topic + " " + text(s.data.symbol));
      sbox.appendChild(s.node);
    });
    var sempty = $(".empty", sbox);
    if (sempty) sempty.hidden = symbols.size > 0;
    $("#symbols-count").textContent = symbols.size ? String(symbols.size) : "";
  }

  $("#search").addEventListener("input", function (e) {
    query = e.target.value.trim().toLowerCase();
    reorder();
  });

  // ---- the symbols ----------------------------------------------------

  function symbolCard(topic) {
    var node = $("#symbol-card").content.firstElementChild.cloneNode(true);
    node.setAttribute("data-topic", topic);
    $(".topic", node).textContent = topic;
    var form = $(".price-form", node);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var values = fields(form);
      values.topic = topic;
      submit(node, "/admin/price", values, function (ans) {
        return text(ans.event.data.symbol) + " at " + text(ans.event.data.price);
      }, $(".pushed", node));
    });
    $(".archive", node).addEventListener("click", function () {
      if (!confirm("Archive " + topic + "? It leaves the console and the widgets; its history stays.")) return;
      submit(node, "/admin/archive", { topic: topic }, function () { return "Archived " + topic; }, $(".pushed", node));
    });
    return node;
  }

  function showSymbol(env) {
    var s = symbols.get(env.topic);
    if (!s) {
      s = { node: symbolCard(env.topic), data: {} };
      symbols.set(env.topic, s);
      reorder("symbols");
      markStale(env.topic);
      showViewers(s.node, env.topic);
    }
    var d = env.data, n = s.node;
    s.data = d;
    s.id = env.id;
    setText($(".name", n), text(d.symbol), true);
    $(".price", n).textContent = text(d.price) + (d.currency ? " " + text(d.currency) : "");
    var ch = typeof d.change === "number" ? d.change : null;
    var c = $(".change", n);
    c.textContent = ch === null ? "" : (ch > 0 ? "+" : "") + ch + (typeof d.change_pct === "number" ? " (" + d.change_pct + "%)" : "");
    c.className = "change " + (ch > 0 ? "up" : ch < 0 ? "down" : "");
  }

  // ---- liveness -------------------------------------------------------

  // setStale notes whether a watched topic is stale (since: when it was
  // last heard of) or fresh (null), and marks its card.
  function setStale(topic, since) {
    if (heard) heard.add(topic);
    if (since === null) stale.delete(topic); else stale.set(topic, since);
    markStale(topic);
  }

  // markStale marks a game's or symbol's card while its topic is stale:
  // "data delayed" and since when, in words, and a data-stale attribute.
  function markStale(topic) {
    var card = games.get(topic) || symbols.get(topic);
    if (!card) return;
    var note = $(".stale-note", card.node);
    if (!stale.has(topic)) {
      card.node.removeAttribute("data-stale");
      note.hidden = true;
      note.textContent = "";
      return;
    }
    var since = stale.get(topic);
    var when = /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(since) ? Date.parse(since) : NaN; // the server's form only
    card.node.setAttribute("data-stale", since);
    note.hidden = false;
    note.textContent = "\u26a0 Data delayed: nothing heard since " + (isNaN(when) ? since : new Date(when).toLocaleTimeString());
  }

  // ---- the audience ---------------------------------------------------

  // While an operator is signed in and the tab is shown, the console asks
  // /admin/audience every AUDIENCE_EVERY how many open streams receive
  // each topic (the console's own stream among them): each card says its
  // topic's figure, and "Most watched" lists the topics, most watched
  // first, with the totals. A hidden tab asks nothing, and asks at once
  // when shown again. With feed.viewers off the server counts nothing
  // (404): the panel says so, and the console stops asking.
  var AUDIENCE_EVERY = 2000; // the server counts every 2 s: more often reads the same figures
  var MOST_WATCHED = 10;     // the topics listed until "Show every topic"
  var audience = { on: false, asking: false, timer: 0, figures: new Map(), topics: [], totals: null, all: false };

  function watchAudience() {
    if (audience.on) return;
    audience.on = true;
    askAudience();
  }

  function stopAudience() {
    audience.on = false;
    clearTimeout(audience.timer);
    audience.timer = 0;
  }

  function askAudience() {
    clearTimeout(audience.timer);
    audience.timer = 0;
    if (!audience.on || audience.asking || document.hidden) return;
    audience.asking = true;
    fetch("/admin/audience", { credentials: "same-origin", cache: "no-store" }).then(function (resp) {
      return resp.status === 404 ? null : answer(resp);
    }).then(function (ans) {
      if (!ans) {
        audience.on = false;
        showAudience(null);
      } else {
        showAudience(ans);
      }
    }, function () { /* asked again at the next turn */ }).then(function () {
      audience.asking = false;
      if (audience.on && !document.hidden) audience.timer = setTimeout(askAudience, AUDIENCE_EVERY);
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(audience.timer);
      audience.timer = 0;
    } else if (audience.on && !audience.timer) {
      askAudience();
    }
  });

  // showAudience shows an answer of /admin/audience, or (null) that the
  // audience is not counted. Only whole numbers are taken.
  function showAudience(ans) {
    var count = function (v) { return typeof v === "number" && isFinite(v) && v >= 0 && Math.floor(v) === v; };
    audience.figures = new Map();
    audience.topics = [];
    audience.totals = ans;
    if (ans && Array.isArray(ans.topics)) {
      ans.topics.forEach(function (t) {
        if (!t || typeof t.topic !== "string" || !count(t.viewers)) return;
        audience.figures.set(t.topic, t.viewers);
        audience.topics.push(t);
      });
    }
    games.forEach(function (g, topic) { showViewers(g.node, topic); });
    symbols.forEach(function (s, topic) { showViewers(s.node, topic); });
    showMostWatched();
  }

  // showViewers writes how many watch a card's topic, hidden while the
  // server has not said.
  function showViewers(node, topic) {
    var el = $(".viewers", node), n = audience.figures.get(topic);
    var said = n === undefined ? "" : watching(n);
    if (el.textContent !== said) el.textContent = said;
    el.hidden = !said;
  }

  function watching(n) { return n.toLocaleString() + " watching"; }

  // showMostWatched lists the watched topics, most watched first (the
  // server's order), each named as the console shows it (the teams, the
  // symbol) with its topic, its figure and a bar of its share of the
  // first's; "Show every topic" lists those nobody watches too.
  function showMostWatched() {
    var a = audience.totals, box = $("#most-watched"), totals = $("#audience-totals"), more = $("#audience-all");
    box.replaceChildren();
    if (!a) {
      $("#audience-at").textContent = "";
      totals.textContent = "The audience is not counted: feed.viewers is \u201coff\u201d in the server's configuration.";
      more.hidden = true;
      return;
    }
    var when = /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(text(a.at)) ? new Date(Date.parse(a.at)) : null;
    $("#audience-at").textContent = when ? "at " + when.toLocaleTimeString() : "";
    var n = function (v) { return (typeof v === "number" ? v : 0).toLocaleString(); };
    totals.textContent = n(a.streams) + (a.streams === 1 ? " stream" : " streams") + " open (" + n(a.patterns) + " of patterns, " +
      n(a.delayed) + " delayed, " + n(a.conflated) + " conflated) · " + n(a.watched_topics) + " of " + n(audience.topics.length) + " topics watched";
    var watched = audience.topics.filter(function (t) { return t.viewers > 0; });
    var shown = audience.all ? audience.topics : watched.slice(0, MOST_WATCHED);
    var top = audience.topics.length ? audience.topics[0].viewers : 0;
    shown.forEach(function (t) {
      var li = document.createElement("li");
      li.setAttribute("data-topic", t.topic);
      var bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = (top ? Math.round(t.viewers / top * 100) : 0) + "%";
      var what = document.createElement("span");
      what.className = "what";
      setText(what, nameOf(t.topic), true);
      var figure = document.createElement("span");
      figure.className = "count";
      figure.textContent = watching(t.viewers);
      var where = document.createElement("span");
      where.className = "where";
      where.textContent = t.topic;
      li.append(bar, what, figure, where);
      box.appendChild(li);
    });
    if (!shown.length) {
      var li = document.createElement("li");
      li.className = "empty";
      li.textContent = "Nobody is watching.";
      box.appendChild(li);
    }
    more.hidden = !audience.all && audience.topics.length <= shown.length;
    more.textContent = audience.all ? "Show the " + MOST_WATCHED + " most watched" : "Show every topic (" + audience.topics.length + ")";
  }

  // nameOf names a topic as its card does: a game's teams, a symbol, or
  // the topic itself.
  function nameOf(topic) {
    var g = games.get(topic), s = symbols.get(topic);
    if (g) return matchup(g.data);
    if (s && text(s.data.symbol)) return text(s.data.symbol);
    return topic;
  }

  $("#audience-all").addEventListener("click", function () {
    audience.all = !audience.all;
    showMostWatched();
  });

  // ---- the live feed -------------------------------------------------

  function watchFeed() {
    if (feed) return;
    var state = $("#feed-state");
    // With private topics the session hands out a short-lived token that
    // grants them all; when it expires the server ends the stream, and the
    // console takes a new one from the session and resumes. Signing out
    // ends the streams of the session's tokens at once.
    var url = "/events?topic=*";
    if (feedToken) url += "&token=" + encodeURIComponent(feedToken);
    if (feedLast) url += "&lastEventId=" + encodeURIComponent(feedLast);
    feed = new EventSource(url);
    feed.onopen = function () {
      state.textContent = "live";
      state.className = "pill live";
      // A new connection is told again which topics are stale (after
      // its snapshot or replay): the old marks go first.
      Array.from(stale.keys()).forEach(function (topic) { setStale(topic, null); });
    };
    feed.onerror = function () { state.textContent = "reconnecting…"; state.className = "pill warn"; };
    var onEvent = function (e) {
      var env;
      try { env = JSON.parse(e.data); } catch (err) { return; }
      if (e.lastEventId) feedLast = e.lastEventId;
      if (heard) heard.add(env.topic);
      if (stale.has(env.topic)) setStale(env.topic, null); // heard again
      if (env.type === "score") showGame(env);
      if (env.type === "tick") showSymbol(env);
      if (env.type === "archive") removeTopic(env.topic);
      if (!topics.has(env.topic)) { topics.add(env.topic); addTopicOption(env.topic); }
      if (env.type !== "tick" || $("#feed-ticks").checked) logEvent(env);
    };
    ["score", "tick", "archive", "note", "message"].forEach(function (t) { feed.addEventListener(t, onEvent); });
    // A watched topic went stale, or is fresh again (feed.stale).
    ["stale", "fresh"].forEach(function (kind) {
      feed.addEventListener(kind, function (e) {
        var info;
        try { info = JSON.parse(e.data); } catch (err) { return; }
        if (!info || typeof info.topic !== "string") return;
        setStale(info.topic, kind === "stale" ? text(info.since) : null);
        logLine(kind + " " + info.topic, kind === "stale" ? "nothing heard for " + text(info.after) + ": data delayed" : "heard again");
      });
    });
    feed.addEventListener("expired", function (e) {
      if (e.lastEventId) feedLast = e.lastEventId;
      feed.close();
      feed = null;
      loadSession();
    });
    // The token was refused, or revoked while the stream ran: the session
    // was signed out (in another tab, say) or the operator removed. Ask
    // the session again: it signs the console out, or hands a new token.
    feed.addEventListener("unauthorized", function (e) {
      if (e.lastEventId) feedLast = e.lastEventId;
      feed.close();
      feed = null;
      loadSession();
    });
    feed.addEventListener("reset", function (e) {
      var info = {};
      try { info = JSON.parse(e.data); } catch (err) { /* keep {} */ }
      logLine("reset", "the feed restarted: " + text(info.message));
    });
    // The end of the snapshot: the position to resume from.
    feed.addEventListener("livefeed.position", function (e) {
      if (e.lastEventId) feedLast = e.lastEventId;
    });
  }

  function logEvent(env) {
    logLine("#" + env.id + " " + env.topic + " " + env.type, summary(env));
  }

  // The panel keeps the last 50 lines: what just went out.
  function logLine(head, body) {
    var list = $("#feed");
    var li = document.createElement("li");
    var time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString();
    var h = document.createElement("strong");
    h.textContent = head;
    var b = document.createElement("span");
    b.textContent = body;
    li.append(time, h, b);
    list.prepend(li);
    while (list.children.length > 50) list.lastElementChild.remove();
  }

  function summary(env) {
    var d = env.data || {};
    if (env.type === "score") {
      var s = text(d.home) + " " + text(d.home_score) + " – " + text(d.away_score) + " " + text(d.away);
      return s + (d.status ? " (" + text(d.status) + ")" : "") + (d.undo_of ? " — undo of #" + text(d.undo_of) : "");
    }
    if (env.type === "tick") return text(d.symbol) + " " + text(d.price) + (typeof d.change === "number" ? " (" + (d.change > 0 ? "+" : "") + d.change + ")" : "");
    if (env.type === "archive") return "archived: out of the live views";
    return JSON.stringify(d);
  }

  // ---- history -------------------------------------------------------

  // loadTopics fills the history's list of topics, a page of /api/topics
  // after another, and marks the stale ones, unless the feed spoke of them
  // meanwhile (its word is newer).
  function loadTopics() {
    var asked = heard = new Set();
    function page(url) {
      return fetch(url, { headers: feedHeaders() }).then(answer).then(function (ans) {
        ans.topics.forEach(function (t) {
          if (!topics.has(t.topic)) { topics.add(t.topic); addTopicOption(t.topic); }
          if (t.stale === true && !asked.has(t.topic) && !stale.has(t.topic)) setStale(t.topic, text(t.stale_since));
        });
        if (typeof ans.next === "string" && ans.next.indexOf("/api/topics?") === 0) return page(ans.next);
      });
    }
    page("/api/topics?archived=1").then(null, function () { /* the feed fills the list too */ }).then(function () {
      if (heard === asked) heard = null;
    });
  }

  // feedHeaders are the headers of the console's reads of the feed.
  function feedHeaders() {
    return feedToken ? { Authorization: "Bearer " + feedToken } : {};
  }

  function addTopicOption(topic) {
    var select = $("#history-topic");
    var option = document.createElement("option");
    option.value = topic;
    option.textContent = topic;
    select.appendChild(option);
    offerPattern(topic);
    offerPattern(topic.split("/")[0] + "/*");
  }

  function historyURL(topic) {
    var q = new URLSearchParams({ order: "desc", limit: "20" });
    if (topic !== "*") q.set("topic", topic);
    return "/admin/history?" + q.toString();
  }

  // loadHistory shows a page of history: times in the viewer's time
  // zone, UTC on hover, and who published each event from the console.
  // The CSV button then downloads exactly the events the table shows.
  function loadHistory(url, topic) {
    history.current = url;
    return fetch(url, { credentials: "same-origin", headers: feedHeaders() }).then(answer).then(function (ans) {
      var body = $("#history tbody");
      body.replaceChildren();
      ans.events.forEach(function (env) {
        var tr = document.createElement("tr");
        var when = new Date(env.time);
        [String(env.id), when.toLocaleString(), env.topic, env.type, text(env.operator), summary(env)].forEach(function (v, i) {
          var td = document.createElement("td");
          td.textContent = v;
          if (i === 1) td.title = env.time.replace("T", " ").replace("Z", " UTC");
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      if (!ans.events.length) {
        var tr = document.createElement("tr");
        var td = document.createElement("td");
        td.colSpan = 6;
        td.textContent = "No events.";
        tr.appendChild(td);
        body.appendChild(tr);
      }
      history.next = ans.next || "";
      history.topic = topic;
      $("#older").disabled = !history.next;
      $("#newer").disabled = history.pages.length === 0;
      setDownload(topic, ans.events);
    }, function (err) { notice(err.message, true); });
  }

  // setDownload points the CSV button at the events of the table: its
  // topic, from its oldest to its newest event.
  function setDownload(topic, events) {
    var q = new URLSearchParams();
    if (topic && topic !== "*") q.set("topic", topic);
    var ids = events.map(function (e) { return e.id; });
    if (ids.length) {
      q.set("after", String(Math.min.apply(null, ids) - 1));
      q.set("before", String(Math.max.apply(null, ids) + 1));
    }
    if (feedToken) q.set("token", feedToken); // a link cannot send a header
    q.set("bom", "1"); // a byte-order mark, so that Excel reads the file as UTF-8
    $("#download").href = "/admin/export.csv?" + q.toString();
    $("#download-note").textContent = ids.length
      ? "The CSV holds the " + ids.length + " events shown (#" + Math.min.apply(null, ids) + " to #" + Math.max.apply(null, ids) + ")."
      : "The CSV holds every event of " + (topic && topic !== "*" ? topic : "every topic") + ".";
  }

  $("#history-form").addEventListener("submit", function (e) {
    e.preventDefault();
    history.pages = [];
    loadHistory(historyURL($("#history-topic").value), $("#history-topic").value);
  });

  $("#older").addEventListener("click", function () {
    if (!history.next) return;
    history.pages.push(history.current);
    loadHistory(history.next, history.topic);
  });

  $("#newer").addEventListener("click", function () {
    if (history.pages.length) loadHistory(history.pages.pop(), history.topic);
  });

  // ---- the widget builder ---------------------------------------------

  // The builder writes a widget's snippet from its form, shows that very
  // snippet live in a frame, and copies it; it asks /api/origin whether
  // the site it is for may show the feed. It only reads: nothing is
  // posted. The preview is a frame of this origin (srcdoc) so that each
  // change starts the widget afresh in a page of its own — the old page's
  // stream ends with it, and widget.js's shared state (one stream per
  // page) never mixes with the console's — and it runs only while the
  // builder is open, so a console tab holds one stream otherwise.
  var builderForm = $("#builder-form");
  var builderShown = "";   // the snippet the preview shows
  var builderTimer = 0;
  var siteAsked = "";      // the origin of the latest question
  var siteTimer = 0;
  var patterns = new Set(["*"]);

  // offerPattern adds a topic or pattern to the topics the builder offers.
  function offerPattern(p) {
    if (patterns.has(p)) return;
    patterns.add(p);
    var option = document.createElement("option");
    option.value = p;
    $("#builder-topics").appendChild(option);
  }

  // attr escapes an attribute's value for the snippet, between double
  // quotes: the snippet is text, pasted into other sites' pages.
  function attr(v) {
    return v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // snippet is the script tag of the widget the form describes.
  function snippet() {
    var f = fields(builderForm);
    var topics = (f.topic || "").split(/\s+/).filter(Boolean).join(" ") || "*";
    var out = '<script src="' + attr(location.origin + "/widget.js") + '" data-kind="' + attr(f.kind) +
      '" data-topic="' + attr(topics) + '" data-theme="' + attr(f.theme) + '"';
    if (f.label) out += ' data-label="' + attr(f.label) + '"';
    if (f.compact) out += " data-compact";
    if (f.viewers) out += " data-viewers";
    if (f.conflate) out += ' data-conflate="' + attr(f.conflate) + '"';
    if (f.max_height) out += ' data-max-height="' + attr(f.max_height) + '"';
    return out + "></script>";
  }

  // showSnippet writes the snippet (as text) and, a moment after the
  // last keystroke, shows it in the preview.
  function showSnippet() {
    var code = snippet();
    $("#builder-snippet").textContent = code;
    $("#builder-copied").textContent = "";
    clearTimeout(builderTimer);
    builderTimer = setTimeout(function () { preview(code); }, 300);
  }

  // preview shows code in a page of its own: the widget as a site shows
  // it, on a page of the theme's colours.
  function preview(code) {
    var frame = $("#builder-preview");
    if (!$("#builder").open) code = "";
    if (code === builderShown) return;
    builderShown = code;
    if (!code) {
      frame.removeAttribute("srcdoc");
      frame.src = "about:blank";
      return;
    }
    frame.srcdoc = '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
      '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Preview</title></head><body>' + code + "</body></html>";
  }

  // The preview's page: no margin but a little, the theme's colours, and
  // as tall as the widget (up to 28rem; a longer one scrolls in it).
  $("#builder-preview").addEventListener("load", function (e) {
    var frame = e.target, win = frame.contentWindow, doc = frame.contentDocument;
    if (!doc || !doc.body || !builderShown) return;
    var theme = builderForm.elements.theme.value;
    doc.documentElement.style.colorScheme = theme === "auto" ? "light dark" : theme;
    doc.body.style.margin = "8px";
    var fit = function () {
      var max = 28 * parseFloat(getComputedStyle(document.documentElement).fontSize);
      frame.style.height = Math.ceil(Math.min(doc.body.getBoundingClientRect().height + 16, max)) + "px"; // with the margins
    };
    fit();
    if (win.ResizeObserver) new win.ResizeObserver(fit).observe(doc.body);
  });

  builderForm.addEventListener("input", function (e) {
    if (e.target.name === "origin") return checkSiteSoon();
    showSnippet();
  });
  builderForm.addEventListener("change", function (e) {
    if (e.target.name !== "origin") showSnippet();
  });
  builderForm.addEventListener("submit", function (e) { e.preventDefault(); });
  $("#builder").addEventListener("toggle", showSnippet);

  function checkSiteSoon() {
    clearTimeout(siteTimer);
    siteTimer = setTimeout(checkSite, 300);
  }

  // checkSite asks the server whether the site the widget is for may
  // show the feed, and warns when it would be refused there. What is
  // typed may be a page's address: its origin is what counts.
  function checkSite() {
    var raw = builderForm.elements.origin.value.trim(), out = $("#builder-origin");
    var say = function (s, cls) { out.textContent = s; out.className = "note wide " + cls; };
    siteAsked = "";
    if (!raw) return say("", "");
    var site = "";
    try { site = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : "https://" + raw).origin; } catch (err) { /* not a URL */ }
    if (!site || site === "null") return say("\u201c" + raw + "\u201d is not a site's address, such as https://news.example", "bad");
    siteAsked = site;
    fetch("/api/origin?origin=" + encodeURIComponent(site), { credentials: "omit", cache: "no-store" }).then(answer).then(function (ans) {
      if (siteAsked !== site) return; // a newer question
      if (ans.allowed) say(site + " is allowed: the widget will show there.", "good");
      else say(site + " is not in cors.allowed_origins: the widget will be refused there.", "bad");
    }, function (err) {
      if (siteAsked === site) say(err.message, "bad");
    });
  }

  // Copy: with the clipboard API where the page may use it (https or
  // this machine), else by selecting the snippet.
  $("#builder-copy").addEventListener("click", function () {
    var box = $("#builder-snippet"), said = $("#builder-copied");
    var code = box.textContent;
    var copied = navigator.clipboard && window.isSecureContext ? navigator.clipboard.writeText(code) : Promise.reject(new Error("no clipboard"));
    copied.catch(function () {
      var range = document.createRange();
      range.selectNodeContents(box);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      if (!document.execCommand("copy")) throw new Error("not copied");
    }).then(function () {
      said.textContent = "Copied.";
    }, function () {
      said.textContent = "Selected: copy it with your keyboard or menu.";
    });
  });

  showSnippet();

  function text(v) { return v === undefined || v === null ? "" : String(v); }

  loadSession();
})();
