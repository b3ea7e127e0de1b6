// otelcol-release operator page. Approve, dismiss and annotate call the
// JSON API with fetch and Content-Type application/json (which a
// cross-site form cannot send); the server also checks Origin and
// Sec-Fetch-Site. Then the page reloads to show the new state.
(function () {
  "use strict";
  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      if (resp.ok) { return resp; }
      return resp.text().then(function (text) {
        var msg = resp.status + " " + resp.statusText;
        try { var e = JSON.parse(text); if (e.error || e.message) { msg += ": " + (e.error || e.message); } } catch (ignored) { msg += ": " + text; }
        throw new Error(msg);
      });
    });
  }
  var actor = document.getElementById("actor");
  if (actor) {
    try { actor.value = localStorage.getItem("otelcol-release.actor") || ""; } catch (ignored) {}
    actor.addEventListener("change", function () {
      try { localStorage.setItem("otelcol-release.actor", actor.value); } catch (ignored) {}
    });
  }
  document.querySelectorAll("button[data-review]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var id = btn.getAttribute("data-decision"), what = btn.getAttribute("data-review");
      var errBox = document.getElementById("review-error");
      btn.disabled = true;
      post("/api/v1/decisions/" + encodeURIComponent(id) + "/" + what, { actor: actor ? actor.value : "" })
        .then(function () { location.hash = id; location.reload(); })
        .catch(function (e) { btn.disabled = false; if (errBox) { errBox.textContent = what + " failed: " + e.message; } });
    });
  });
  var form = document.getElementById("annotate");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = new FormData(form), errBox = document.getElementById("annotate-error");
      var body = { label: f.get("label") || "note", text: f.get("text") || "", link: f.get("link") || "",
        author: actor ? actor.value : "", decision_id: f.get("decision_id") || "" };
      post("/api/v1/releases/" + encodeURIComponent(form.getAttribute("data-release")) + "/annotations", body)
        .then(function () { location.reload(); })
        .catch(function (e) { if (errBox) { errBox.textContent = "annotation failed: " + e.message; } });
    });
  }
})();
