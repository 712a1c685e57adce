// The demo page: show the embed snippet with this server's address.
(function () {
  "use strict";
  var snippet = document.getElementById("snippet");
  if (!snippet) return;
  var src = location.origin + "/widget.js";
  snippet.textContent =
    '<script src="' + src + '" data-kind="scoreboard" data-topic="nba/*"></script>\n' +
    '<script src="' + src + '" data-kind="ticker" data-topic="stocks/*"></script>\n' +
    '<script src="' + src + '" data-kind="tape" data-topic="stocks/*" data-theme="auto"></script>';
})();
