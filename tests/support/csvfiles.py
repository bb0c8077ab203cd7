"""Bulk-invitation files (the header of GET /v1/invitations/template.csv)
with `rows` new people, for import tests and the import benchmark."""
from contracts.invitations import CSV_TEMPLATE


def invitations_csv(rows: int, tag: str, name: str = "Person", domain: str = "bulk.example.com") -> bytes:
    """Row i: "<name> i", a unique address "p<i>-<tag>@<domain>", external id "X<tag>-<i>"."""
    lines = [CSV_TEMPLATE]
    lines += [f"{name} {i},p{i}-{tag}@{domain},X{tag}-{i}\r\n" for i in range(rows)]
    return "".join(lines).encode()
