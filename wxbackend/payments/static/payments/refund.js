// 撤销并退款 on the order page: asks first (the button's data-confirm), the form is sent only when confirmed.
(function () {
  "use strict";
  const button = document.getElementById("refund-order");
  if (!button) return;
  button.addEventListener("click", (event) => {
    if (!window.confirm(button.dataset.confirm)) event.preventDefault();
  });
})();
