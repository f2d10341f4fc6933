// What every report page starts with: its data, read from the embedded JSON, and a
// table row written as text (never as HTML: account ids and rules are the world's).
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
function row(table, cells, head) {
  const tr = document.createElement("tr");
  for (const [text, num] of cells) {
    const td = document.createElement(head ? "th" : "td");
    td.textContent = text;
    if (num) td.className = "num";
    tr.appendChild(td);
  }
  document.querySelector(`#${table} ${head ? "thead" : "tbody"}`).appendChild(tr);
}
