"""Older mapping files (formatVersion 1) repeated some decisions; `plan` rewrites them once."""

from __future__ import annotations

import copy

from .model import KEY_INDEX_SOURCE, KEY_VALIDATORS


def without_repeats(data: dict, fresh: dict) -> dict:
    """An older file (formatVersion 1) without the entries it repeats, for `plan` to merge into;
    a referenced field's `v.id(...)` becomes the original keys' type again, as `fresh` has it.

    Call it only on a file that loads cleanly: then every repeat agrees with what it repeats,
    and dropping it loses no decision.
    """
    data = copy.deepcopy(data)
    for ref in data.get("references") or {}:
        source, _, name = ref.partition(".")
        mine = ((data.get("tables") or {}).get(source) or {}).get("fields", {}).get(name)
        planned = ((fresh.get("tables") or {}).get(source) or {}).get("fields", {}).get(name)
        if isinstance(mine, dict) and isinstance(planned, dict) and "v.id(" in str(mine.get("validator")):
            mine["validator"] = planned.get("validator", mine.get("validator"))
    for table in (data.get("tables") or {}).values():
        key = table.get("key") or {}
        if key.get("dedicated") is False:
            key.pop("field", None)
            holder = (table.get("fields") or {}).get((key.get("paths") or [None])[0])
            encoding = KEY_VALIDATORS.get(key.get("encoding"))
            if isinstance(holder, dict) and encoding is not None and holder.get("validator") == encoding.to_ts():
                del holder["validator"]
        key.pop("dedicated", None)
        fields = table.get("fields") or {}
        for name in [n for n in fields if n.startswith("(")]:
            del fields[name]
        for f in fields.values():
            f.pop("references", None)
        (table.get("indexes") or {}).pop(KEY_INDEX_SOURCE, None)
        for m in (table.get("multiEntry") or {}).values():
            m.pop("item", None)
    return data
