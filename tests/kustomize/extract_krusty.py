#!/usr/bin/env python3
"""Extract kustomize's api/krusty test cases into directories the conformance suite builds.

Usage: extract_krusty.py [KRUSTY_DIR] [OUT_DIR]
  KRUSTY_DIR defaults to $SLUICE_CACHE/go/mod/sigs.k8s.io/kustomize/api@v0.21.2/krusty
  (the api module that kustomize v5.8.2 requires); OUT_DIR to tests/kustomize/krusty.

Only the mechanically extractable tests are taken: a `Test*` function whose harness writes
files with literal `th.WriteK/WriteC/WriteF(<literal path>, <literal string or package-level
string constant>)`, possibly through helper functions of the same file that take the harness
and do nothing but such writes, and then builds once with `th.Run(<dir>,
th.MakeDefaultOptions())` (or `RunWithErr`), and which loops nowhere and formats no strings. Each becomes OUT_DIR/<TestName>/ with
`files/` (the in-memory file system, leading `/` dropped), `case.json` ({"root": dir, "error":
bool}) and `expected.yaml` (the Go test's expected text, secondary: the oracle's output is what
the suite compares against). Kustomize's tests are Apache-2.0 (Copyright The Kubernetes Authors).
"""
import json
import os
import re
import shutil
import sys

HEADERS = {
    "WriteK": "\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
    "WriteC": "\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
    "WriteF": "",
}
GO_STRING = r'(`[^`]*`|"(?:[^"\\]|\\.)*")'
WRITE = re.compile(r'th\.(WriteK|WriteC|WriteF)\(\s*' + GO_STRING + r'\s*,\s*(' + GO_STRING[1:-1] + r'|\w+)\s*\)', re.S)
CONST = re.compile(r'^\s*(?:const\s+)?(\w+)\s*=\s*' + GO_STRING, re.M)
HELPER = re.compile(r'^func (\w+)\(th \*?kusttest_test\.Harness\) \{\n(.*?)^\}', re.M | re.S)
RUN = re.compile(r'th\.(Run|RunWithErr)\(\s*' + GO_STRING + r'\s*,\s*th\.MakeDefaultOptions\(\)\s*\)')
EXPECT = re.compile(r'th\.AssertActualEqualsExpected\(\s*m\s*,\s*' + GO_STRING + r'\s*\)', re.S)


def go_string(literal, constants=None):
    if literal.startswith("`"):
        return literal[1:-1]
    if literal.startswith('"'):
        return json.loads(literal)
    return (constants or {})[literal]


def constants_of(source):
    """The package-level string constants and variables of a Go file: {name: literal}."""
    return {name: literal for name, literal in CONST.findall(source)}


def helpers_of(source):
    """Functions `name(th)` whose body is only file writes: {name: body}."""
    helpers = {}
    for name, body in HELPER.findall(source):
        if not WRITE.sub("", body).strip(" \t\n{}"):
            helpers[name] = body
    return helpers


def inline_helpers(body, helpers):
    """The body with each `helper(th)` call replaced by the helper's writes."""
    return re.sub(r'\b(\w+)\(th\)', lambda m: helpers.get(m.group(1), m.group(0)), body)


def functions(source):
    """Yields (name, body) of each top-level `func TestX(t *testing.T)`."""
    starts = [m for m in re.finditer(r'^func (Test\w+)\(t \*testing\.T\) \{', source, re.M)]
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(source)
        body = source[match.end():end]
        closing = re.search(r'^\}', body, re.M)
        yield match.group(1), body[: closing.start()] if closing else body


def extractable(body, constants):
    if "MakeHarness(t)" not in body and "MakeEnhancedHarness(t)" not in body:
        return False
    if re.search(r'\bfor\b|fmt\.Sprintf|t\.Run\(|t\.Skip|PrepBuiltin|PrepExecPlugin|\bopts\b|\boptions\b', body):
        return False
    without = WRITE.sub("", body)
    without = RUN.sub("", without)
    without = EXPECT.sub("", without)
    if re.search(r'\bth\)', without) or re.search(r'\bth\.(Write|Run|Assert|Get|Make)\w*\(', without.replace("th.MakeDefaultOptions()", "")):
        return False
    contents = [content for _, _, content in WRITE.findall(body)]
    if any(not content.startswith(("`", '"')) and content not in constants for content in contents):
        return False
    return len(RUN.findall(body)) == 1


def extract(krusty_dir, out_dir):
    count = 0
    for file_name in sorted(os.listdir(krusty_dir)):
        if not file_name.endswith("_test.go"):
            continue
        source = open(os.path.join(krusty_dir, file_name), encoding="utf-8").read()
        constants = constants_of(source)
        helpers = helpers_of(source)
        for name, body in functions(source):
            body = inline_helpers(body, helpers)
            if not extractable(body, constants):
                continue
            case_dir = os.path.join(out_dir, name)
            shutil.rmtree(case_dir, ignore_errors=True)
            for kind, path, content in WRITE.findall(body):
                path = go_string(path).lstrip("/")
                target = os.path.join(case_dir, "files", path)
                if kind != "WriteF":
                    target = os.path.join(target, "kustomization.yaml")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w", encoding="utf-8") as handle:
                    handle.write(HEADERS[kind] + go_string(content, constants))
            run_kind, root = RUN.search(body).groups()
            root = go_string(root).lstrip("/") or "."
            os.makedirs(os.path.join(case_dir, "files", root), exist_ok=True)
            with open(os.path.join(case_dir, "case.json"), "w", encoding="utf-8") as handle:
                json.dump({"root": root, "error": run_kind == "RunWithErr", "source": file_name}, handle)
                handle.write("\n")
            expected = EXPECT.search(body)
            if expected:
                with open(os.path.join(case_dir, "expected.yaml"), "w", encoding="utf-8") as handle:
                    handle.write(go_string(expected.group(1)).lstrip("\n"))
            count += 1
    return count


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cache = os.environ.get("SLUICE_CACHE", os.path.join(here, "..", "..", ".cache"))
    default_krusty = os.path.join(cache, "go", "mod", "sigs.k8s.io", "kustomize", "api@v0.21.2", "krusty")
    krusty_dir = sys.argv[1] if len(sys.argv) > 1 else default_krusty
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "krusty")
    print(f"extracted {extract(krusty_dir, out_dir)} cases into {out_dir}")


if __name__ == "__main__":
    main()
