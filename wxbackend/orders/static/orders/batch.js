// 批量续期: choosing another year count for one certificate reloads the page with it, so every price, the total
// shown (and the total the form posts back) are always the server's quote.
(function () {
  "use strict";
  const form = document.getElementById("batch-renew-form");
  if (!form) { return; }
  const all = document.getElementById("years-all");
  all.addEventListener("change", () => {  // one choice for every certificate
    if (!all.value) { return; }
    const url = new URL(location.pathname, location.origin);
    form.querySelectorAll("input[name=certificate]").forEach((input) => url.searchParams.append("certificate", input.value));
    url.searchParams.set("years", all.value);
    document.getElementById("create-group").disabled = true;
    location.assign(url.toString());
  });
  form.querySelectorAll("select[data-requote]").forEach((select) => {
    select.addEventListener("change", () => {
      const url = new URL(location.pathname, location.origin);
      form.querySelectorAll("input[name=certificate]").forEach((input) => url.searchParams.append("certificate", input.value));
      form.querySelectorAll("select[data-requote]").forEach((s) => url.searchParams.set(s.name, s.value));
      document.getElementById("create-group").disabled = true;  // no group for a total not yet shown
      location.assign(url.toString());
    });
  });
})();
