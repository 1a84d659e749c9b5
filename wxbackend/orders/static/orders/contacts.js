// 经办人/收件人: "从经办人处拷贝" copies the operator's name and mobile into the recipient's fields as typed (the
// server uses the operator's either way), and choosing one of 我的地址 hides the typed recipient fields.
(function () {
  "use strict";
  const copy = document.getElementById("copy-operator");
  const address = document.getElementById("address_id");
  const typed = document.getElementById("recipient-typed");
  if (!copy || !address || !typed) { return; }
  const field = (name) => document.getElementById(name);
  copy.addEventListener("change", () => {
    if (!copy.checked) { return; }
    field("recipient_name").value = field("operator_name").value;
    field("recipient_mobile").value = field("operator_mobile").value;
  });
  const toggle = () => { typed.hidden = address.value !== ""; };
  address.addEventListener("change", toggle);
  toggle();
})();
