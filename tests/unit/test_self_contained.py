"""The repository stands alone: no tracked file refers to a design file it does not contain,
to a sibling directory of the checkout, or to an absolute path of one particular machine."""
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Spelled in pieces so that this file does not match itself.
FORBIDDEN = re.compile("|".join([
    re.escape("DESIGN" + ".md"),
    re.escape(".." + "/shared"),
    r"(?<![\w.~/-])" + re.escape("/" + "work/"),     # an absolute path, not a relative one
]))


def tracked_files():
    """The files git tracks; without git (an unpacked archive), every file but the venv."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout
        return [ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "var", "__pycache__"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def numbered_lines(path):
    """(``path:number``, line) of a text file; nothing for a binary (a PNG) or deleted one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for number, line in enumerate(text.splitlines(), 1):
        yield f"{name}:{number}", line


def offences(paths):
    return [f"{where}: {line.strip()}" for path in paths
            for where, line in numbered_lines(path) if FORBIDDEN.search(line)]


def test_no_file_refers_outside_the_repository():
    files = tracked_files()
    assert len(files) > 50, "the file list looks wrong"
    assert offences(files) == []


def test_the_check_finds_each_kind_of_reference(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("see DESIGN" + ".md\nrun .." + "/shared/x.sh\nfrom /" + "work/main\n"
                   "fine: docs/work/x, ./work/y and ~/work/z\n", encoding="utf-8")
    assert [o.split(":")[1] for o in offences([bad])] == ["1", "2", "3"]


def test_links_between_documents_resolve():
    """Every relative link of README.md and docs/*.md names a file of the repository."""
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in link.findall(doc.read_text(encoding="utf-8")):
            if "://" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []


def test_documents_that_files_name_exist():
    """Every document of docs/ that a tracked file names (a docstring, a comment) exists."""
    named = re.compile(r"\bdocs/([\w-]+\.md)\b")
    missing = [f"{where} names docs/{name}" for path in tracked_files()
               for where, line in numbered_lines(path) for name in named.findall(line)
               if not (ROOT / "docs" / name).exists()]
    assert missing == []
