// crmflow console: small progressive enhancements. Every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // "Select all on this page", and then "Select all N".
  var page = document.getElementById("selectpage");
  if (page) {
    var picks = Array.prototype.slice.call(document.querySelectorAll("input.pick"));
    var bar = document.getElementById("selectall-bar");
    var deleteSelected = document.getElementById("delete-selected");
    var sync = function () {
      var all = picks.length > 0 && picks.every(function (p) { return p.checked; });
      page.checked = all;
      if (bar) { bar.hidden = !all; }
      if (!all && deleteSelected) { deleteSelected.value = "selected"; }
    };
    page.addEventListener("change", function () {
      picks.forEach(function (p) { p.checked = page.checked; });
      sync();
    });
    picks.forEach(function (p) { p.addEventListener("change", sync); });
    var selectN = document.getElementById("selectall-n");
    if (selectN && bar && deleteSelected) {
      selectN.addEventListener("click", function () {
        deleteSelected.value = "all";
        document.getElementById("selectall-msg").textContent = bar.dataset.allmsg;
        selectN.hidden = true;
        deleteSelected.focus();
      });
    }
  }

  // Live progress of a bulk job: poll its status until it is complete or refused.
  var job = document.getElementById("job");
  if (job) {
    var status = document.getElementById("job-status");
    var bar2 = document.getElementById("job-bar");
    var text = document.getElementById("job-progress");
    var refusal = document.getElementById("job-refusal");
    var final = function (s) { return s === "COMPLETE" || s === "REFUSED"; };
    var poll = function () {
      fetch(job.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (j) {
          status.textContent = j.label;
          status.dataset.status = j.status;
          bar2.max = Math.max(j.total, 1);
          bar2.value = j.done;
          text.textContent = j.progress;
          if (j.refusal) { refusal.textContent = j.refusal; refusal.hidden = false; }
          if (j.reload) { window.location.reload(); return; }
          if (!j.final) { setTimeout(poll, 500); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    if (!final(status.dataset.status)) { setTimeout(poll, 300); }
  }
});
