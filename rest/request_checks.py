"""What any request may carry before a handler sees it, checked once for every route of both
API shapes: a body of bounded size, a URL that is UTF-8, and text that a database can store.

Each refusal is a QnetError, so it comes back as a 4xx in the body format of the API the client
called, never as a 500 from deep in a handler or at flush time. The limits exist because Python
and PostgreSQL each choke on something JSON and URLs can carry: a body of any size is held in
memory whole; nested arrays exhaust the parser's recursion; a lone UTF-16 surrogate
(``"\\ud800"``) decodes to a str that cannot be encoded back; PostgreSQL refuses NUL in text.
"""
import json
import re

from controller import errors

DEFAULT_MAX_BODY = 1024 * 1024
#: Deeper than any body the API accepts (binding:profile is the deepest free-form value).
MAX_DEPTH = 32
#: What no stored string may hold: NUL (PostgreSQL refuses it) or a lone surrogate (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class RequestTooLarge(errors.QnetError):
    status = 413
    type_name = "HTTPRequestEntityTooLarge"
    message = "Request body is larger than {limit} bytes."


class MalformedRequestUrl(errors.BadRequest):
    message = "Malformed request URL: {reason}"


def read_body(req, limit):
    """Load the body into ``req``, refusing one over ``limit`` bytes before reading it.

    A declared Content-Length is judged before a byte is read; a chunked body (no length) is
    read up to one byte past the limit, never further.
    """
    length = req.content_length  # webob: None when absent or not a number
    if length is not None:
        if length > limit:
            raise RequestTooLarge(limit=limit)
        return
    if "chunked" in req.headers.get("Transfer-Encoding", "").lower():
        data = req.body_file_raw.read(limit + 1)
        if len(data) > limit:
            raise RequestTooLarge(limit=limit)
        req.body = data


def check_url(req):
    """The decoded path, after refusing a path or query that is not UTF-8 or holds NUL."""
    try:
        path = req.path_info
        query = req.GET.items()  # webob decodes (and caches) the query here
    except UnicodeDecodeError:
        raise MalformedRequestUrl(reason="it is not valid UTF-8 once percent-decoded")
    if "\x00" in path or any("\x00" in k or "\x00" in v for k, v in query):
        raise MalformedRequestUrl(reason="it contains a NUL character")
    return path


def loads(raw):
    """Parse a JSON body, refusing what a handler or the database could not cope with."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise errors.MalformedRequestBody(reason=f"nested deeper than {MAX_DEPTH} levels")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.MalformedRequestBody(reason=f"not valid JSON ({exc})")
    _check_tree(value)
    return value


def _check_tree(value):
    """Walk the parsed body without recursion: depth, and every string (keys too)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise errors.MalformedRequestBody(
                    reason=f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text):
    bad = _UNSTORABLE.search(text)
    if bad:
        what = "a NUL character" if bad.group() == "\x00" else "a lone UTF-16 surrogate"
        raise errors.InvalidInput(error=f"strings may not contain {what}")
