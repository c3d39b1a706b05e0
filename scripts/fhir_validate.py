#!/usr/bin/env python3
"""Validate FHIR R4 (4.0.1) JSON files with the fhir.resources models, independently of the app.

Usage: .venv-fhir/bin/python scripts/fhir_validate.py [--time] [--max-errors N] FILE...
(scripts/fhir-venv.sh makes .venv-fhir with the pinned fhir.resources 6.4.0, whose models are R4.)

Each FILE is a Bundle, a single resource (its own resourceType picks the model), or NDJSON as FHIR
bulk data export writes it (one resource per line; a *.ndjson name, or JSON with one object per
line). Prints per file
    ok: FILE: Bundle with N entries (types: Observation 20, Condition 3, ...) [collection]
or FAIL: FILE: ... followed by one line per error naming the entry index, resourceType and id and
the element path. Exit status 0 when every file is valid, 1 when any is not, 2 on a usage or
environment error.

What is checked:
  - the fhir.resources model of the resource (unknown elements are errors: the models forbid
    extra fields; cardinality, required elements, choice types [x], primitive formats, ids);
    each Bundle entry's resource by the model of its own resourceType, then the whole Bundle by
    the Bundle model;
  - what those models let through although FHIR JSON forbids it: null values, empty strings,
    objects and arrays, strings or booleans where FHIR has a JSON number, numbers or strings
    where it has a JSON boolean, numbers where it has a string, a dateTime/instant with a time
    but no time zone;
  - codes with a required binding in R4 for the resources this project handles (e.g.
    Encounter.status, Observation.status, AllergyIntolerance.criticality, Bundle.type): the
    library keeps these lists but does not enforce them;
  - references: "#id" must name a contained resource; in a Bundle, urn:uuid:/urn:oid: references
    must resolve to an entry's fullUrl (they cannot resolve anywhere else), fullUrls are unique
    (bdl-7), urn:uuid fullUrls are UUIDs, a RESTful fullUrl ends with the resource's Type/id, and
    entry.request/response/search follow the Bundle type (bdl-1..5). Relative or absolute
    references that resolve to no entry are legal (the resource lives elsewhere): they are
    counted in a note, not errors. The same holds for NDJSON lines (Type/id of the other lines).
"""
import argparse
import json
import re
import sys
import time
import uuid
from collections import Counter

try:
    import fhir.resources as fr
    from fhir.resources import get_fhir_model_class
    from pydantic import ValidationError
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(
        "error: cannot import fhir.resources (%s): run scripts/fhir-venv.sh and use "
        ".venv-fhir/bin/python\n" % exc
    )
    sys.exit(2)

if fr.__fhir_version__ != "4.0.1":  # pragma: no cover - environment problem
    sys.stderr.write(
        "error: fhir.resources %s has FHIR %s models, not R4 4.0.1: use the pinned "
        ".venv-fhir (scripts/fhir-venv.sh)\n" % (fr.__version__, fr.__fhir_version__)
    )
    sys.exit(2)

# Resource types that are not R4 but that exports of other versions contain: named in the error.
OTHER_VERSIONS = {
    "MedicationOrder": "DSTU2 (R4: MedicationRequest)",
    "DiagnosticOrder": "DSTU2 (R4: ServiceRequest)",
    "ProcedureRequest": "STU3 (R4: ServiceRequest)",
    "ReferralRequest": "STU3 (R4: ServiceRequest)",
    "DeviceUseRequest": "DSTU2 (R4: DeviceRequest)",
    "Order": "DSTU2",
    "OrderResponse": "DSTU2",
    "DeviceUsage": "R5 (R4: DeviceUseStatement)",
    "ActorDefinition": "R5",
    "Requirements": "R5",
    "Transport": "R5",
    "Permission": "R5",
    "InventoryItem": "R5",
    "InventoryReport": "R5",
    "FormularyItem": "R5",
    "GenomicStudy": "R5",
    "ImagingSelection": "R5",
    "ArtifactAssessment": "R5",
    "SubscriptionTopic": "R4B/R5",
    "SubscriptionStatus": "R4B/R5",
    "Citation": "R4B/R5",
    "Ingredient": "R4B/R5",
    "ClinicalUseDefinition": "R4B/R5",
    "RegulatedAuthorization": "R4B/R5",
    "NutritionProduct": "R4B/R5",
    "AdministrableProductDefinition": "R4B/R5",
    "ManufacturedItemDefinition": "R4B/R5",
    "PackagedProductDefinition": "R4B/R5",
}

# Codes bound "required" in R4, for the elements of the resources this project handles. The
# fhir.resources models carry these lists (field enum_values) without enforcing them; a list that
# the library cut short with '+' is completed here from the R4 specification.
COMPLETED_R4_CODES = {
    "Encounter.status": "planned arrived triaged in-progress onleave finished cancelled "
    "entered-in-error unknown",
    "EncounterStatusHistory.status": "planned arrived triaged in-progress onleave finished "
    "cancelled entered-in-error unknown",
    "Observation.status": "registered preliminary final amended corrected cancelled "
    "entered-in-error unknown",
    "DiagnosticReport.status": "registered partial preliminary final amended corrected appended "
    "cancelled entered-in-error unknown",
}
CHECKED_CODES = (
    "Patient.gender PatientContact.gender HumanName.use Identifier.use ContactPoint.system "
    "ContactPoint.use Address.use Address.type Narrative.status Quantity.comparator "
    "AllergyIntolerance.type AllergyIntolerance.category AllergyIntolerance.criticality "
    "AllergyIntoleranceReaction.severity MedicationRequest.status MedicationRequest.intent "
    "MedicationRequest.priority MedicationStatement.status Medication.status Immunization.status "
    "Procedure.status DocumentReference.status DocumentReference.docStatus "
    "DocumentReferenceRelatesTo.code Bundle.type BundleEntryRequest.method BundleEntrySearch.mode "
    "EncounterLocation.status"
).split()

NUMBER_TYPES = {"integer", "decimal", "positiveInt", "unsignedInt"}
TIME_WITHOUT_ZONE = re.compile(r"T\d\d:\d\d(:\d\d(\.\d+)?)?$")
RESTFUL_TAIL = re.compile(r"(?:^|/)([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


class FileError(Exception):
    """The file as a whole cannot be read as FHIR JSON."""


# ---------------------------------------------------------------------------------------------
# Per-class field table for the JSON checks: alias -> (kind, detail, is_list, code_values).
_TABLES = {}


def _code_values(cls_name, alias, field):
    key = "%s.%s" % (cls_name, alias)
    if key in COMPLETED_R4_CODES:
        return frozenset(COMPLETED_R4_CODES[key].split())
    if key in CHECKED_CODES:
        values = field.field_info.extra.get("enum_values") or []
        if values and "+" not in values:
            return frozenset(values)
    return None


def field_table(cls):
    table = _TABLES.get(cls)
    if table is not None:
        return table
    table = {}
    for field in cls.__fields__.values():
        alias = field.alias
        if alias in ("resource_type", "fhir_comments"):
            continue
        t = field.type_
        is_list = field.shape != 1
        codes = None
        if t is bool:
            kind, detail = "bool", "boolean"
        elif hasattr(t, "is_primitive") and t.is_primitive():
            name = t.fhir_type_name()
            kind, detail = ("number" if name in NUMBER_TYPES else "string"), name
            if name == "code":
                codes = _code_values(cls.__name__, alias, field)
        elif hasattr(t, "fhir_type_name"):
            name = t.fhir_type_name()
            if name == "Resource":
                kind, detail = "resource", None
            else:
                kind, detail = "complex", get_fhir_model_class(name)
        else:
            continue
        table[alias] = (kind, detail, is_list, codes)
    _TABLES[cls] = table
    return table


def json_checks(value, cls, path, errs):
    """FHIR JSON rules that the pydantic models do not enforce (see the module doc)."""
    table = field_table(cls)
    for key, v in value.items():
        spec = table.get(key)
        if spec is None:
            continue  # resourceType, or a field the model already rejected
        kind, detail, is_list, codes = spec
        where = path + key
        if v is None:
            errs.append("%s: null is not allowed in FHIR JSON (leave the element out)" % where)
            continue
        if is_list:
            if not isinstance(v, list):
                continue  # the model reported it
            if not v:
                errs.append("%s: empty array (leave the element out)" % where)
            for i, item in enumerate(v):
                if item is None and kind in ("string", "number", "bool"):
                    continue  # allowed when _element carries the extension for that index
                _check_one(item, kind, detail, codes, "%s[%d]" % (where, i), errs)
        else:
            _check_one(v, kind, detail, codes, where, errs)


def _check_one(v, kind, detail, codes, where, errs):
    if v is None:
        errs.append("%s: null is not allowed in FHIR JSON" % where)
    elif kind == "bool":
        if not isinstance(v, bool):
            errs.append("%s: expected a JSON boolean, got %s" % (where, json.dumps(v)[:40]))
    elif kind == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            errs.append("%s: %s must be a JSON number, got %s" % (where, detail, json.dumps(v)[:40]))
    elif kind == "string":
        if not isinstance(v, str):
            errs.append("%s: %s must be a JSON string, got %s" % (where, detail, json.dumps(v)[:40]))
        elif v == "":
            errs.append("%s: empty string (leave the element out)" % where)
        elif detail in ("dateTime", "instant") and TIME_WITHOUT_ZONE.search(v):
            errs.append("%s: %s %r has a time but no time zone" % (where, detail, v))
        elif codes is not None and v not in codes:
            errs.append(
                "%s: code %r is not in the R4 required value set (%s)"
                % (where, v, ", ".join(sorted(codes)))
            )
    elif kind == "complex":
        if isinstance(v, dict):
            if not v:
                errs.append("%s: empty object (leave the element out)" % where)
            else:
                json_checks(v, detail, where + ".", errs)
    elif kind == "resource":
        if isinstance(v, dict):
            rt = v.get("resourceType")
            try:
                cls = get_fhir_model_class(rt) if isinstance(rt, str) else None
            except KeyError:
                cls = None
            if cls is not None:
                json_checks(v, cls, "%s(%s)." % (where, rt), errs)


# ---------------------------------------------------------------------------------------------
def format_loc(loc):
    out = ""
    for part in loc:
        if part == "__root__":
            continue
        if isinstance(part, int):
            out += "[%d]" % part
        else:
            out += ("." if out else "") + str(part)
    return out or "(resource)"


def model_for(resource):
    """(model class, None) or (None, error message) for a JSON value meant to be a resource."""
    if not isinstance(resource, dict):
        return None, "not a JSON object but %s" % type(resource).__name__
    rt = resource.get("resourceType")
    if rt is None:
        return None, "no resourceType: not a FHIR resource"
    if not isinstance(rt, str):
        return None, "resourceType is not a string"
    try:
        return get_fhir_model_class(rt), None
    except KeyError:
        hint = OTHER_VERSIONS.get(rt)
        if hint:
            return None, "resourceType %r is not an R4 resource: it is %s" % (rt, hint)
        return None, "resourceType %r is not a FHIR R4 resource type" % rt


def references(value, out, path=""):
    """Collect (path, reference string) for every Reference.reference below value."""
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            out.append((path + "reference", ref))
        for k, v in value.items():
            if k != "contained" and isinstance(v, (dict, list)):
                references(v, out, path + k + ".")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            references(v, out, path[:-1] + "[%d]." % i)
    return out


def validate_resource(resource):
    """Validate one resource by the model of its own resourceType. Returns (model class, errors);
    errors are strings with element paths relative to the resource."""
    cls, problem = model_for(resource)
    if problem:
        return None, [problem]
    errs = []
    contained = resource.get("contained") if isinstance(resource.get("contained"), list) else []
    for i, c in enumerate(contained):
        problem = model_for(c)[1]
        if problem:
            errs.append("contained[%d]: %s" % (i, problem))
    try:
        cls.parse_obj(resource)
    except ValidationError as exc:
        for e in exc.errors():
            errs.append("%s: %s" % (format_loc(e["loc"]), e["msg"]))
    except (LookupError, TypeError, ValueError) as exc:  # a non-R4 type in contained, said above
        if not errs:
            errs.append("(resource): %s" % exc)
    reported = {e.split(": ", 1)[0] for e in errs}
    more = []
    json_checks(resource, cls, "", more)
    errs.extend(e for e in more if e.split(": ", 1)[0] not in reported)  # once per element
    # Local references: "#id" must name a contained resource ("#" alone is the container).
    local_ids = {c.get("id") for c in contained if isinstance(c, dict)}
    roots = [("", resource)] + [("contained[%d]." % i, c) for i, c in enumerate(contained)]
    for prefix, root in roots:
        for where, ref in references(root, []):
            if ref.startswith("#") and ref != "#" and ref[1:] not in local_ids:
                errs.append("%s%s: %r names no contained resource" % (prefix, where, ref))
    return cls, errs


def describe(resource, index=None):
    rt = resource.get("resourceType", "?") if isinstance(resource, dict) else "?"
    rid = resource.get("id") if isinstance(resource, dict) else None
    label = "%s/%s" % (rt, rid) if rid else str(rt)
    return label if index is None else "entry[%d] %s" % (index, label)


def type_summary(counter):
    return ", ".join("%s %d" % (t, n) for t, n in sorted(counter.items(), key=lambda x: (-x[1], x[0])))


# ---------------------------------------------------------------------------------------------
def check_bundle(bundle):
    """Returns (summary, errors, notes)."""
    errs, notes = [], []
    btype = bundle.get("type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        entries = []
    counts = Counter()
    fullurls = {}
    by_type_id = {}
    all_ok = True
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            errs.append("entry[%d]: not a JSON object" % i)
            all_ok = False
            continue
        res = entry.get("resource")
        if res is not None:
            counts[res.get("resourceType", "?") if isinstance(res, dict) else "?"] += 1
            _, rerrs = validate_resource(res)
            if rerrs:
                all_ok = False
                errs.extend("%s: %s" % (describe(res, i), e) for e in rerrs)
        furl = entry.get("fullUrl")
        label = describe(res, i) if isinstance(res, dict) else "entry[%d]" % i
        if isinstance(furl, str):
            if furl in fullurls and btype != "history":
                errs.append("%s: fullUrl %s repeats entry[%d] (bdl-7)" % (label, furl, fullurls[furl]))
            fullurls.setdefault(furl, i)
            if furl.startswith("urn:uuid:"):
                try:
                    uuid.UUID(furl[9:])
                    if len(furl) != 45:
                        raise ValueError
                except ValueError:
                    errs.append("%s: fullUrl %s is not urn:uuid:<uuid>" % (label, furl))
            elif "/_history/" in furl:
                errs.append("%s: fullUrl %s is version specific (bdl-8)" % (label, furl))
            elif furl.startswith(("http://", "https://")) and isinstance(res, dict) and res.get("id"):
                m = RESTFUL_TAIL.search(furl)
                if not m or (m.group(1), m.group(2)) != (res.get("resourceType"), res.get("id")):
                    errs.append("%s: fullUrl %s does not end with %s/%s"
                                % (label, furl, res.get("resourceType"), res.get("id")))
        if isinstance(res, dict) and res.get("id"):
            by_type_id.setdefault("%s/%s" % (res.get("resourceType"), res["id"]), i)
        # bdl-1..5: what an entry carries depends on the Bundle type.
        if btype in ("batch", "transaction", "history") and "request" not in entry:
            errs.append("%s: a %s entry needs request (bdl-3)" % (label, btype))
        if btype not in ("batch", "transaction", "history") and "request" in entry:
            errs.append("%s: request is only for batch, transaction, history (bdl-3)" % label)
        if btype in ("batch-response", "transaction-response", "history") and "response" not in entry:
            errs.append("%s: a %s entry needs response (bdl-4)" % (label, btype))
        if btype not in ("batch-response", "transaction-response", "history") and "response" in entry:
            errs.append("%s: response is only for batch-/transaction-response, history (bdl-4)" % label)
        if btype != "searchset" and "search" in entry:
            errs.append("%s: search is only for a searchset (bdl-2)" % label)
        if not any(k in entry for k in ("resource", "request", "response")):
            errs.append("%s: has neither resource, request nor response (bdl-5)" % label)
    if "total" in bundle and btype not in ("searchset", "history"):
        errs.append("Bundle.total: only for a searchset or history (bdl-1)")

    # The whole Bundle by the Bundle model (its entries' resources dispatch to their own models
    # again). When an entry already failed, the entry resources are left out here so that the
    # Bundle's own errors are reported once and entry errors are not repeated.
    from fhir.resources.bundle import Bundle

    stripped = dict(bundle)
    if entries:
        stripped["entry"] = [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
            for e in entries
        ]
    try:
        Bundle.parse_obj(bundle if all_ok else stripped)
    except ValidationError as exc:
        for e in exc.errors():
            errs.append("Bundle.%s: %s" % (format_loc(e["loc"]), e["msg"]))
    except (LookupError, TypeError, ValueError) as exc:
        errs.append("Bundle: %s" % exc)
    from fhir.resources.bundle import BundleEntry

    json_checks({k: v for k, v in bundle.items() if k != "entry"}, Bundle, "Bundle.", errs)
    if "entry" in bundle and bundle["entry"] in (None, []):
        errs.append("Bundle.entry: null or empty array (leave the element out)")
    for i, e in enumerate(stripped.get("entry") or []):
        if isinstance(e, dict):
            json_checks(e, BundleEntry, "entry[%d]." % i, errs)

    # References between entries.
    outside = Counter()
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        furl = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else ""
        m = RESTFUL_TAIL.search(furl) if furl.startswith(("http://", "https://")) else None
        base = furl[: m.start(1)] if m else None
        for where, ref in references(res, []):
            if ref.startswith("#"):
                continue
            if ref.startswith(("urn:uuid:", "urn:oid:")):
                if ref not in fullurls:
                    errs.append("%s: %s: %s does not resolve within the bundle"
                                % (describe(res, i), where, ref))
                continue
            if ref in fullurls:
                continue
            if not ref.startswith(("http://", "https://")):
                plain = re.sub(r"/_history/[^/]+$", "", ref)
                if (base is not None and base + plain in fullurls) or plain in by_type_id:
                    continue
            outside[ref] += 1
    if outside:
        shown = ", ".join(sorted(outside)[:5]) + (", ..." if len(outside) > 5 else "")
        notes.append("%d reference(s) to %d resource(s) outside the file: %s"
                     % (sum(outside.values()), len(outside), shown))

    summary = "Bundle with %d entries (types: %s) [%s]" % (len(entries), type_summary(counts), btype)
    return summary, errs, notes


def check_ndjson(resources):
    errs, notes = [], []
    counts = Counter()
    by_type_id = set()
    for line_no, res in resources:
        if isinstance(res, dict) and res.get("id"):
            by_type_id.add("%s/%s" % (res.get("resourceType"), res["id"]))
    outside = Counter()
    for line_no, res in resources:
        counts[res.get("resourceType", "?") if isinstance(res, dict) else "?"] += 1
        _, rerrs = validate_resource(res)
        label = "line %d %s" % (line_no, describe(res))
        errs.extend("%s: %s" % (label, e) for e in rerrs)
        if not isinstance(res, dict):
            continue
        for where, ref in references(res, []):
            if ref.startswith("#"):
                continue
            if ref.startswith(("urn:uuid:", "urn:oid:")):
                errs.append("%s: %s: %s cannot resolve outside a Bundle" % (label, where, ref))
            elif re.sub(r"/_history/[^/]+$", "", ref) not in by_type_id:
                outside[ref] += 1
    if outside:
        shown = ", ".join(sorted(outside)[:5]) + (", ..." if len(outside) > 5 else "")
        notes.append("%d reference(s) to %d resource(s) outside the file: %s"
                     % (sum(outside.values()), len(outside), shown))
    summary = "NDJSON with %d resources (types: %s)" % (len(resources), type_summary(counts))
    return summary, errs, notes


def load(path):
    """('ndjson', [(line, obj)]) or ('json', obj); raises FileError."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FileError("cannot read: %s" % exc.strerror)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError("not JSON: not UTF-8 text (byte %d)" % exc.start)
    if not text.strip():
        raise FileError("not JSON: the file is empty")
    if path.endswith((".ndjson", ".jsonl")):
        return "ndjson", _ndjson(text)
    try:
        return "json", json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return "ndjson", _ndjson(text)  # one object per line without the .ndjson name
        raise FileError("not JSON: %s at line %d column %d" % (exc.msg, exc.lineno, exc.colno))


def _ndjson(text):
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise FileError("not NDJSON: line %d is not JSON (%s, column %d)" % (n, exc.msg, exc.colno))
    if not out:
        raise FileError("not NDJSON: no lines")
    return out


def check_file(path):
    """Returns (ok, summary, errors, notes)."""
    try:
        kind, data = load(path)
    except FileError as exc:
        return False, str(exc), [], []
    if kind == "ndjson":
        summary, errs, notes = check_ndjson(data)
        return not errs, summary, errs, notes
    cls, problem = model_for(data)
    if problem:
        return False, problem, [], []
    if data["resourceType"] == "Bundle":
        summary, errs, notes = check_bundle(data)
        return not errs, summary, errs, notes
    _, errs = validate_resource(data)
    label = describe(data)
    summary = "%s (single resource)" % label
    return not errs, summary, ["%s: %s" % (label, e) for e in errs], []


def main(argv=None):
    ap = argparse.ArgumentParser(description="Validate FHIR R4 JSON with fhir.resources %s (FHIR %s)"
                                 % (fr.__version__, fr.__fhir_version__))
    ap.add_argument("files", nargs="+", metavar="FILE")
    ap.add_argument("--time", action="store_true", help="print how long each file took")
    ap.add_argument("--max-errors", type=int, default=50, help="errors shown per file (default 50)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no notes, only ok/FAIL and errors")
    args = ap.parse_args(argv)
    failed = 0
    for path in args.files:
        t0 = time.perf_counter()
        ok, summary, errs, notes = check_file(path)
        took = " (%.2f s)" % (time.perf_counter() - t0) if args.time else ""
        if ok:
            print("ok: %s: %s%s" % (path, summary, took))
        else:
            failed += 1
            more = ": %d error(s)" % len(errs) if errs else ""
            print("FAIL: %s: %s%s%s" % (path, summary, more, took))
            for e in errs[: args.max_errors]:
                print("  error: %s" % e)
            if len(errs) > args.max_errors:
                print("  ... and %d more" % (len(errs) - args.max_errors))
        if not args.quiet:
            for n in notes:
                print("  note: %s" % n)
    if len(args.files) > 1:
        print("fhir_validate: %d file(s) ok, %d failed" % (len(args.files) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
