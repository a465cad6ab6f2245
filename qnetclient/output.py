"""How the CLI prints resources: aligned tables for people, JSON or bare values for scripts.

    table  (default) lists: one row per item; show: a Field/Value table
    json   the server's objects (only the -c columns if given), for jq and json.load
    value  bare values, space-separated, one item per line: NET=$(qnet network show x -f value -c id)
"""
import json

FORMATS = ("table", "json", "value")


def cell(value):
    """One value as text on one line: lists joined by ', ', records as k=v."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return " ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    return str(value)


def aligned(header, rows):
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def pick(item, columns):
    return {c: item.get(c) for c in columns} if columns else item


def render_list(items, fmt, columns, selected=None):
    """A table of ``columns`` (or the ``selected`` ones); JSON has whole items unless
    columns were selected."""
    if fmt == "json":
        return json.dumps([pick(i, selected) for i in items], indent=2)
    columns = selected or columns
    rows = [[cell(i.get(c)) for c in columns] for i in items]
    if fmt == "value":
        return "\n".join(" ".join(r) for r in rows)
    return aligned(list(columns), rows)


def render_item(item, fmt, columns=None):
    item = pick(item, columns)
    if fmt == "json":
        return json.dumps(item, indent=2)
    if fmt == "value":
        return "\n".join(cell(v) for v in item.values())
    return aligned(["Field", "Value"], [[k, cell(v)] for k, v in item.items()])
