// 续期 / 应用续期: choosing another year count reloads the page with that count, so the amount, the fee detail
// and the new validity shown (and the amount the form posts back) are always the server's quote for it.
(function () {
  "use strict";
  const years = document.querySelector("select[data-requote]");
  if (!years) { return; }
  years.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("years", years.value);
    document.getElementById("create-order").disabled = true;  // no order for a price not yet shown
    location.assign(url.toString());
  });
})();
