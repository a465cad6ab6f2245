"""Value types of API attributes: each converts client input (JSON or a query string) to the
canonical Python value, or raises InvalidInput with a message that names the attribute, and
describes itself as a JSON schema for the OpenAPI document."""
import re
import uuid

import netaddr

from controller import errors, logical

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


def _bad(name, value, what):
    return errors.InvalidInput(error=f"'{value}' is not {what} (attribute '{name}')")


class Type:
    schema = {}

    def convert(self, name, value):
        raise NotImplementedError

    def parse_query(self, name, text):
        """Convert a query-string value (always text) for filtering."""
        return self.convert(name, text)


class String(Type):
    def __init__(self, max_len=255):
        self.max_len = max_len
        # no NUL: the server refuses it anywhere (rest/request_checks.py)
        self.schema = {"type": "string", "maxLength": max_len, "pattern": "^[^\\u0000]*$"}

    def convert(self, name, value):
        if not isinstance(value, str):
            raise _bad(name, value, "a string")
        if len(value) > self.max_len:
            raise errors.InvalidInput(
                error=f"'{name}' exceeds the maximum length of {self.max_len}")
        return value


class ProjectOrEveryone(String):
    """An RBAC policy's target: a project id, or ``*`` for every project (never empty)."""

    def __init__(self):
        super().__init__(64)
        self.schema = {"type": "string", "minLength": 1, "maxLength": 64,
                       "pattern": "^[^\\s\\u0000]+$"}

    def convert(self, name, value):
        value = super().convert(name, value)
        if not value or any(c.isspace() for c in value):
            raise _bad(name, value, "a project id or '*'")
        return value


class Timestamp(String):
    """A time the server sets (created_at): RFC 3339 in UTC, 2026-01-02T03:04:05Z."""

    def __init__(self):
        super().__init__(32)
        self.schema = {"type": "string", "format": "date-time"}


class Uuid(Type):
    schema = {"type": "string", "format": "uuid"}

    def convert(self, name, value):
        if isinstance(value, str):
            try:
                return str(uuid.UUID(value))
            except ValueError:
                pass
        raise _bad(name, value, "a valid UUID")


class Boolean(Type):
    schema = {"type": "boolean"}

    def convert(self, name, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS:
            return value.lower() in TRUE_WORDS
        raise _bad(name, value, "a boolean")


#: The range of the database's INTEGER columns (32-bit on PostgreSQL); a value beyond it would
#: fail in the driver (SQLite: past 64 bits) rather than as bad input.
INT32_MIN, INT32_MAX = -2 ** 31, 2 ** 31 - 1


class Integer(Type):
    """An integer in [minimum, maximum]; None for no bound (only for values the server
    reports, such as an IPv6 subnet's address count, never for input or filters)."""

    def __init__(self, minimum=INT32_MIN, maximum=INT32_MAX):
        self.minimum, self.maximum = minimum, maximum
        self.schema = {"type": "integer"}
        if minimum is not None:
            self.schema["minimum"] = minimum
        if maximum is not None:
            self.schema["maximum"] = maximum

    def convert(self, name, value):
        if isinstance(value, bool):
            raise _bad(name, value, "an integer")
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise _bad(name, value, "an integer")
        if not isinstance(value, int):
            raise _bad(name, value, "an integer")
        if (self.minimum is not None and value < self.minimum) or \
                (self.maximum is not None and value > self.maximum):
            raise errors.InvalidInput(
                error=f"'{name}' = {value} is outside {self.minimum}..{self.maximum}")
        return value


class Enum(Type):
    def __init__(self, *values):
        self.values = values
        self.schema = {"enum": list(values)}

    def convert(self, name, value):
        if value not in self.values:
            raise _bad(name, value, "one of " + ", ".join(map(str, self.values)))
        return value

    def parse_query(self, name, text):
        for value in self.values:
            if str(value) == text:
                return value
        raise _bad(name, text, "one of " + ", ".join(map(str, self.values)))


IP_SCHEMA = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
# JSON Schema has no CIDR format: these patterns say it (prefix-length form only, which is what
# the server answers with; it also takes a netmask, 10.0.0.0/255.255.255.0, and canonicalises).
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_V4 = f"{_OCTET}(\\.{_OCTET}){{3}}"
_G = "[0-9A-Fa-f]{1,4}"
_V6 = "|".join([f"({_G}:){{7}}{_G}", f"({_G}:){{1,7}}:", f"({_G}:){{1,6}}:{_G}",
                f"({_G}:){{1,5}}(:{_G}){{1,2}}", f"({_G}:){{1,4}}(:{_G}){{1,3}}",
                f"({_G}:){{1,3}}(:{_G}){{1,4}}", f"({_G}:){{1,2}}(:{_G}){{1,5}}",
                f"{_G}:(:{_G}){{1,6}}", f":((:{_G}){{1,7}}|:)", f"({_G}:){{6}}{_V4}",
                f"({_G}:){{1,4}}:{_V4}", f"::(ffff(:0{{1,4}})?:)?{_V4}"])
CIDR4_PATTERN = f"^{_V4}/(3[0-2]|[12]?[0-9])$"
CIDR6_PATTERN = f"^({_V6})/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"
CIDR_SCHEMA = {"type": "string", "anyOf": [{"pattern": CIDR4_PATTERN},
                                           {"pattern": CIDR6_PATTERN}]}


class IpAddress(Type):
    schema = IP_SCHEMA

    def convert(self, name, value):
        try:
            if not isinstance(value, str):
                raise TypeError
            return str(netaddr.IPAddress(value))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise _bad(name, value, "a valid IP address")


class Cidr(Type):
    schema = CIDR_SCHEMA

    def convert(self, name, value):
        if not isinstance(value, str) or "/" not in value:
            raise _bad(name, value, "a valid CIDR")
        try:
            return str(netaddr.IPNetwork(value))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise _bad(name, value, "a valid CIDR")


class IpOrCidr(Type):
    """An address or a network, answered in canonical form (as the schema states it)."""

    schema = {"type": "string", "anyOf": [*IP_SCHEMA["anyOf"], *CIDR_SCHEMA["anyOf"]]}

    def convert(self, name, value):
        if not isinstance(value, str):
            raise _bad(name, value, "a valid IP address or CIDR")
        if "/" in value:
            return Cidr().convert(name, value)
        return IpAddress().convert(name, value)


_HEX2, _HEX4 = "[0-9A-Fa-f]{2}", "[0-9A-Fa-f]{4}"
#: The 48-bit MAC forms accepted: 00:11:22:33:44:55, 00-11-22-33-44-55, 0011.2233.4455 and
#: 001122334455. netaddr alone would also take 64-bit EUIs (which no port can have) and bare
#: integers ("1"), so the text is matched first, by the pattern the OpenAPI document states.
MAC_PATTERN = (f"^({_HEX2}(:{_HEX2}){{5}}|{_HEX2}(-{_HEX2}){{5}}|{_HEX4}(\\.{_HEX4}){{2}}"
               f"|[0-9A-Fa-f]{{12}})$")
_MAC = re.compile(MAC_PATTERN)


class MacAddress(Type):
    schema = {"type": "string", "pattern": MAC_PATTERN}

    def convert(self, name, value):
        if not isinstance(value, str) or not _MAC.fullmatch(value):
            raise _bad(name, value, "a valid 48-bit MAC address")
        return str(netaddr.EUI(value, version=48, dialect=netaddr.mac_unix_expanded))


class ListOf(Type):
    def __init__(self, item, max_items=1000):
        self.item, self.max_items = item, max_items
        self.schema = {"type": "array", "items": item.schema, "maxItems": max_items}

    def convert(self, name, value):
        if not isinstance(value, list):
            raise _bad(name, value, "a list")
        if len(value) > self.max_items:
            raise errors.InvalidInput(error=f"'{name}' has more than {self.max_items} items")
        return [self.item.convert(name, v) for v in value]

    def parse_query(self, name, text):
        """A filter on a list attribute matches one element: ``subnets=<id>``."""
        return self.item.parse_query(name, text)


class Record(Type):
    """A JSON object with known keys (``required`` must be present; no others allowed; at
    least ``min_keys`` of them)."""

    def __init__(self, fields, required=(), min_keys=0):
        self.fields, self.required, self.min_keys = fields, set(required), min_keys
        self.schema = {"type": "object", "additionalProperties": False,
                       "properties": {k: t.schema for k, t in fields.items()}}
        if required:
            self.schema["required"] = sorted(required)
        if min_keys:
            self.schema["minProperties"] = min_keys

    def convert(self, name, value):
        if not isinstance(value, dict):
            raise _bad(name, value, "an object")
        unknown = set(value) - set(self.fields)
        if unknown:
            raise errors.InvalidInput(
                error=f"unknown key(s) {', '.join(sorted(unknown))} in '{name}'")
        missing = self.required - set(value)
        if missing:
            raise errors.InvalidInput(
                error=f"'{name}' entries need {', '.join(sorted(missing))}")
        if len(value) < self.min_keys:
            raise errors.InvalidInput(error=f"'{name}' entries need at least {self.min_keys} "
                                            f"of {', '.join(self.fields)}")
        return {k: self.fields[k].convert(f"{name}.{k}", v) for k, v in value.items()}

    def parse_query(self, name, text):
        return text  # structured filters (fixed_ips=ip_address=X) are parsed by the core


class FreeDict(Type):
    """An opaque JSON object (e.g. binding:profile), size-limited."""

    schema = {"type": "object"}

    def convert(self, name, value):
        if not isinstance(value, dict):
            raise _bad(name, value, "an object")
        if len(str(value)) > 4096:
            raise errors.InvalidInput(error=f"'{name}' is larger than 4096 characters")
        return value


_BYTE = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


class IpProtocol(Type):
    """An IP protocol: one of Neutron's names (lower case), or a number 0..255 as an integer
    or as text; answered as text (the name, or the number's digits), as Neutron does."""

    schema = {"anyOf": [{"type": "string", "enum": sorted(logical.IP_PROTOCOLS)},
                        {"type": "string", "pattern": f"^{_BYTE}$"},
                        {"type": "integer", "minimum": 0, "maximum": 255}]}
    _number = re.compile(_BYTE)

    def convert(self, name, value):
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
            return str(value)
        if isinstance(value, str) and (value in logical.IP_PROTOCOLS
                                       or self._number.fullmatch(value)):
            return value
        raise _bad(name, value, "an IP protocol name (" + ", ".join(
            sorted(logical.IP_PROTOCOLS)) + ") or number 0..255")


class Nullable(Type):
    """A value of ``item``'s type or null (inside records the server answers with)."""

    def __init__(self, item):
        self.item = item
        self.schema = {**item.schema, "nullable": True}

    def convert(self, name, value):
        return None if value is None else self.item.convert(name, value)
