# sarif-validate.py SCHEMA FILE: validates FILE against the SARIF 2.1.0
# JSON schema (draft 2020-12) with python3-jsonschema; prints each error
# with its JSON path. Exit 0 valid, 1 invalid, 77 no validator.
import json
import sys

try:
    import jsonschema
except ImportError:
    print("python3 jsonschema is not installed")
    sys.exit(77)

schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
for e in errors:
    print("/".join(str(p) for p in e.path), e.message[:300])
sys.exit(1 if errors else 0)
