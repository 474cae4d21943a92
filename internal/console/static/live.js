// Keeps the overview's "live calls" number current from the server's
// event stream (/live); without JavaScript the number is as of page load.
(function () {
  "use strict";
  var out = document.getElementById("live-calls");
  if (!out || !window.EventSource) { return; }
  var src = new EventSource("/live");
  src.addEventListener("live", function (e) {
    out.textContent = e.data;
    out.setAttribute("data-updated", "1");
  });
})();
