/*
 * The livefeed admin console.
 *
 * Every change is a form posted to /admin/... with the session's CSRF token;
 * the server publishes it through the same path as POST /api/publish and
 * answers with the event's ID. The console watches the feed itself
 * (GET /events?topic=*) to show the games, the prices and what goes out.
 * Feed text is only ever written with textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  var csrf = "";          // the token every form carries
  var feed = null;        // the console's EventSource
  var feedToken = "";     // a subscriber token for private topics, from the session
  var feedLast = "";      // the feed's last event ID, to resume a new EventSource
  var games = new Map();  // topic → { node, data }
  var symbols = new Map();
  var topics = new Set();
  var history = { pages: [], current: "" };

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
      history.pages = [];
      loadHistory(historyURL($("#history-topic").value));
    } else {
      if (feed) { feed.close(); feed = null; }
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
      $("#new-game").open = false;
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
    }, function (err) {
      notice(err.message, true);
      if (pushedLine) pushedLine.textContent = err.message;
    }).then(function () {
      container.classList.remove("pending");
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  // ---- the cards ------------------------------------------------------

  function gameCard(topic) {
    var node = $("#game-card").content.firstElementChild.cloneNode(true);
    node.setAttribute("data-topic", topic);
    $(".topic", node).textContent = topic;
    node.querySelectorAll("button[data-side]").forEach(function (b) {
      b.addEventListener("click", function () {
        var values = { topic: topic };
        values[b.getAttribute("data-side") + "_points"] = b.getAttribute("data-points");
        var g = games.get(topic);
        submit(node, "/admin/score", values, function (ans) {
          var d = ans.event.data;
          return (g ? g.data.home + " " + d.home_score + " – " + d.away_score + " " + g.data.away : topic);
        }, $(".pushed", node));
      });
    });
    $(".state-form", node).addEventListener("submit", function (e) {
      e.preventDefault();
      var values = fields(e.target);
      values.topic = topic;
      Object.keys(values).forEach(function (k) { if (values[k] === "") delete values[k]; });
      submit(node, "/admin/score", values, function () { return "Updated " + topic; }, $(".pushed", node)).then(function () {
        e.target.reset();
      });
    });
    return node;
  }

  function showGame(env) {
    var g = games.get(env.topic);
    if (!g) {
      g = { node: gameCard(env.topic), data: {} };
      games.set(env.topic, g);
      insertSorted($("#games"), g.node, env.topic);
    }
    var d = env.data;
    g.data = d;
    var n = g.node;
    $(".matchup", n).textContent = text(d.home) + " vs " + text(d.away);
    $(".team.home", n).textContent = text(d.home);
    $(".team.away", n).textContent = text(d.away);
    $(".label.home", n).textContent = text(d.home);
    $(".label.away", n).textContent = text(d.away);
    $(".score.home", n).textContent = text(d.home_score);
    $(".score.away", n).textContent = text(d.away_score);
    var info = [];
    if (d.status) info.push(text(d.status));
    if (d.period !== undefined && d.period !== null) info.push("period " + text(d.period));
    if (d.clock) info.push(text(d.clock));
    $(".info", n).textContent = info.join(" · ") || " ";
  }

  function symbolCard(topic) {
    var node = $("#symbol-card").content.firstElementChild.cloneNode(true);
    node.setAttribute("data-topic", topic);
    $(".topic", node).textContent = topic;
    $(".price-form", node).addEventListener("submit", function (e) {
      e.preventDefault();
      var values = fields(e.target);
      values.topic = topic;
      submit(node, "/admin/price", values, function (ans) {
        return text(ans.event.data.symbol) + " at " + text(ans.event.data.price);
      }, $(".pushed", node)).then(function () { e.target.reset(); });
    });
    return node;
  }

  function showSymbol(env) {
    var s = symbols.get(env.topic);
    if (!s) {
      s = { node: symbolCard(env.topic) };
      symbols.set(env.topic, s);
      insertSorted($("#symbols"), s.node, env.topic);
    }
    var d = env.data, n = s.node;
    $(".name", n).textContent = text(d.symbol);
    $(".price", n).textContent = text(d.price) + (d.currency ? " " + text(d.currency) : "");
    var ch = typeof d.change === "number" ? d.change : null;
    var c = $(".change", n);
    c.textContent = ch === null ? "" : (ch > 0 ? "+" : "") + ch + (typeof d.change_pct === "number" ? " (" + d.change_pct + "%)" : "");
    c.className = "change " + (ch > 0 ? "up" : ch < 0 ? "down" : "");
  }

  function insertSorted(list, node, topic) {
    var empty = $(".empty", list);
    if (empty) empty.remove();
    var before = null;
    list.querySelectorAll(".card").forEach(function (other) {
      var t = other.getAttribute("data-topic");
      if (t > topic && (!before || t < before.getAttribute("data-topic"))) before = other;
    });
    list.insertBefore(node, before);
  }

  // ---- the live feed -------------------------------------------------

  function watchFeed() {
    if (feed) return;
    var state = $("#feed-state");
    // With private topics the session hands out a short-lived token that
    // grants them all; when it expires the server ends the stream, and the
    // console takes a new one from the session and resumes.
    var url = "/events?topic=*";
    if (feedToken) url += "&token=" + encodeURIComponent(feedToken);
    if (feedLast) url += "&lastEventId=" + encodeURIComponent(feedLast);
    feed = new EventSource(url);
    feed.onopen = function () { state.textContent = "live"; state.className = "pill live"; };
    feed.onerror = function () { state.textContent = "reconnecting…"; state.className = "pill warn"; };
    var onEvent = function (e) {
      var env;
      try { env = JSON.parse(e.data); } catch (err) { return; }
      if (e.lastEventId) feedLast = e.lastEventId;
      if (env.type === "score") showGame(env);
      if (env.type === "tick") showSymbol(env);
      if (!topics.has(env.topic)) { topics.add(env.topic); addTopicOption(env.topic); }
      logEvent(env);
    };
    ["score", "tick", "note", "message"].forEach(function (t) { feed.addEventListener(t, onEvent); });
    feed.addEventListener("expired", function (e) {
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
  }

  function logEvent(env) {
    logLine("#" + env.id + " " + env.topic + " " + env.type, summary(env));
  }

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
    while (list.children.length > 100) list.lastElementChild.remove();
  }

  function summary(env) {
    var d = env.data || {};
    if (env.type === "score") {
      var s = text(d.home) + " " + text(d.home_score) + " – " + text(d.away_score) + " " + text(d.away);
      return s + (d.status ? " (" + text(d.status) + ")" : "");
    }
    if (env.type === "tick") return text(d.symbol) + " " + text(d.price) + (typeof d.change === "number" ? " (" + (d.change > 0 ? "+" : "") + d.change + ")" : "");
    return JSON.stringify(d);
  }

  // ---- history -------------------------------------------------------

  function loadTopics() {
    fetch("/api/topics", { headers: feedHeaders() }).then(answer).then(function (ans) {
      ans.topics.forEach(function (t) {
        if (!topics.has(t.topic)) { topics.add(t.topic); addTopicOption(t.topic); }
      });
    }, function () { /* the feed fills the list too */ });
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
  }

  function historyURL(topic) {
    var q = new URLSearchParams({ order: "desc", limit: "20" });
    if (topic !== "*") q.set("topic", topic);
    return "/api/history?" + q.toString();
  }

  function loadHistory(url) {
    history.current = url;
    return fetch(url, { headers: feedHeaders() }).then(answer).then(function (ans) {
      var body = $("#history tbody");
      body.replaceChildren();
      ans.events.forEach(function (env) {
        var tr = document.createElement("tr");
        [String(env.id), env.time.replace("T", " ").replace("Z", ""), env.topic, env.type, summary(env)].forEach(function (v) {
          var td = document.createElement("td");
          td.textContent = v;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      if (!ans.events.length) {
        var tr = document.createElement("tr");
        var td = document.createElement("td");
        td.colSpan = 5;
        td.textContent = "No events.";
        tr.appendChild(td);
        body.appendChild(tr);
      }
      history.next = ans.next || "";
      $("#older").disabled = !history.next;
      $("#newer").disabled = history.pages.length === 0;
    }, function (err) { notice(err.message, true); });
  }

  $("#history-form").addEventListener("submit", function (e) {
    e.preventDefault();
    history.pages = [];
    loadHistory(historyURL($("#history-topic").value));
  });

  $("#history-topic").addEventListener("change", function () {
    var topic = $("#history-topic").value;
    var q = new URLSearchParams({ bom: "1" }); // a byte-order mark, so that Excel reads the file as UTF-8
    if (topic !== "*") q.set("topic", topic);
    if (feedToken) q.set("token", feedToken); // a link cannot send a header
    $("#download").href = "/api/export.csv?" + q.toString();
  });

  $("#older").addEventListener("click", function () {
    if (!history.next) return;
    history.pages.push(history.current);
    loadHistory(history.next);
  });

  $("#newer").addEventListener("click", function () {
    if (history.pages.length) loadHistory(history.pages.pop());
  });

  function text(v) { return v === undefined || v === null ? "" : String(v); }

  loadSession();
})();
