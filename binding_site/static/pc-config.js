// The PC pages' settings (the helper's address, its minimum version, the order being renewed), written by
// pc/base.html as JSON data: window.CAGJ for the pages' scripts.
window.CAGJ = JSON.parse(document.getElementById("cagj-config").textContent);
