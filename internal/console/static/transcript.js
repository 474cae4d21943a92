// Follows the recording in the transcript: highlights the segment being
// played, and seeks to a segment when its line is clicked (or Enter/Space),
// or to a point of the waveform when it is clicked.
(function () {
  "use strict";
  var audio = document.getElementById("recording");
  var list = document.getElementById("transcript");
  var wave = document.getElementById("waveform");
  if (audio && wave) {
    // A click on the waveform plays from that point.
    wave.addEventListener("click", function (e) {
      var r = wave.getBoundingClientRect();
      if (audio.duration && r.width) {
        audio.currentTime = (e.clientX - r.left) / r.width * audio.duration;
        var p = audio.play();
        if (p && p.catch) {
          p.catch(function () {});
        }
      }
    });
  }
  if (!audio || !list) {
    return;
  }
  var items = Array.prototype.slice.call(list.querySelectorAll("li[data-start]"));
  var current = null;

  function at(t) {
    for (var i = 0; i < items.length; i++) {
      var s = parseFloat(items[i].getAttribute("data-start"));
      var e = parseFloat(items[i].getAttribute("data-end"));
      if (t >= s && t < e) {
        return items[i];
      }
    }
    return null;
  }

  function update() {
    var found = at(audio.currentTime);
    if (found === current) {
      return;
    }
    if (current) {
      current.classList.remove("current");
      current.removeAttribute("aria-current");
    }
    if (found) {
      found.classList.add("current");
      found.setAttribute("aria-current", "true");
    }
    current = found;
  }

  function seek(li) {
    audio.currentTime = parseFloat(li.getAttribute("data-start"));
    var p = audio.play();
    if (p && p.catch) {
      p.catch(function () {}); // autoplay refused: the position is still set
    }
    update();
  }

  audio.addEventListener("timeupdate", update);
  audio.addEventListener("seeked", update);
  items.forEach(function (li) {
    li.tabIndex = 0;
    li.addEventListener("click", function () { seek(li); });
    li.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        seek(li);
      }
    });
  });
})();
