"""Front matter podpost renders reads back, value for value, with js-yaml 4 (Eleventy's parser).

The test installs npm ``js-yaml@4`` once into pytest's cache folder
(``.pytest_cache/d/podpost-js-yaml``, ignored by git) and reuses it; one ``node`` process
parses every document of a test. Without Node.js and npm the tests skip.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from pipeline.models import FrontMatter, Post
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from tests.fixtures.npm import npm_install
from tests.fixtures.review import clean_post
from tests.test_post_yaml_style import OTHER_STYLE, WRITTEN

JS_YAML = "js-yaml@4"
pytestmark = pytest.mark.slow  # an npm install on the first run

# Reads a JSON list of YAML documents on stdin; writes what js-yaml makes of each, with
# every value that is not a string, boolean, list or mapping tagged so it cannot pass.
_READER = r"""
const yaml = require(process.argv[process.argv.length - 1]);
const tag = (v) => {
  if (Array.isArray(v)) return v.map(tag);
  if (v === null) return {__not_a_string: "null"};
  if (v instanceof Date) return {__not_a_string: "date " + v.toISOString()};
  if (typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)]));
  }
  if (typeof v === "string" || typeof v === "boolean") return v;
  return {__not_a_string: typeof v + " " + String(v)};
};
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const docs = JSON.parse(input);
  process.stdout.write(JSON.stringify(docs.map((d) => tag(yaml.load(d)))));
});
"""


@pytest.fixture(scope="session")
def js_yaml(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the installed js-yaml package, installed once and cached across runs."""
    modules = npm_install(
        request, tmp_path_factory, JS_YAML, "podpost-js-yaml", "js-yaml/package.json", 300
    )
    package = modules / "js-yaml"
    version = json.loads((package / "package.json").read_text("utf-8"))["version"]
    assert version.startswith("4."), version
    return package


def _js_load(js_yaml: Path, documents: list[str]) -> list[object]:
    result = subprocess.run(
        ["node", "-e", _READER, str(js_yaml)],
        input=json.dumps(documents),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _front_matter(text: str) -> str:
    return text.split("\n---\n", 1)[0].removeprefix("---\n")


def _front(**values: object) -> FrontMatter:
    base = clean_post().front.model_dump()
    base.update(values)
    return FrontMatter.model_validate(base)


# Strings YAML 1.1 or 1.2 may read as something else: number forms, with signs, exponents,
# underscores and prefixes; booleans and nulls in every case; dates, times, indicators.
_WORDS = ["y", "Y", "n", "yes", "No", "ON", "off", "true", "False", "null", "Null", "~", "="]
_NUMBERS = [
    f"{sign}{body}"
    for sign, body in itertools.product(
        ["", "-", "+"],
        [
            *("1e3", "1E+3", "1.5e-3", "0o17", "0O17", "0x1F", "0b101", "1_000", "1_0.5", "017"),
            *("0", ".5", "5.", ".inf", ".Inf", ".NAN", "1:30", "190:20:30.15", "1__", "0x_1"),
        ],
    )
]
_DATES = ["2026-03-01", "2026-3-1", "2026-03-01T10:00:00Z", "2026-03-01 10:00:00.5 +02:00"]
_INDICATORS = [f"{c}x" for c in "-?:,[]{}#&*!|>'\"%@`"] + [f"{c} x" for c in "-?:#&*!|>%@"]


def test_every_rendered_value_reads_back_as_the_same_string_with_js_yaml(js_yaml: Path) -> None:
    values = [v for v, _ in WRITTEN] + _WORDS + _NUMBERS + _DATES + _INDICATORS
    values += ["a: b", "a #b", "a:", "O'Neil's", "<<", "Q&A: what's next? #2 🎧", "x\ty"]
    posts = [
        Post(front=_front(people=[v for v in values if v], title=v or "t", guest=v), sections=[])
        for v in values
    ]
    posts.append(clean_post())
    fronts = [p.front.model_dump() for p in posts]
    rendered = [_front_matter(render_post(p)) for p in posts]
    lines = [line.removeprefix("  - ") for doc in rendered for line in doc.split("\n")]
    assert not [line for line in lines if line.split(": ", 1)[-1].startswith('"')]
    assert _js_load(js_yaml, rendered) == fronts


def test_a_post_in_another_style_reads_the_same_in_js_yaml_and_podpost(js_yaml: Path) -> None:
    body = render_post(clean_post()).split("\n---\n", 1)[1]
    text = OTHER_STYLE + body
    post = parse_post(text)
    assert check_post(text)  # its style is reported ...
    [read] = _js_load(js_yaml, [_front_matter(text)])
    assert isinstance(read, dict)
    # ... and Eleventy reads the values podpost reads, but the ones the other tool's style
    # left ambiguous: a plain number form, a plain date, and the tab podpost writes as a space.
    expected = post.front.model_dump()
    assert {k: v for k, v in read.items() if read[k] != expected[k]} == {
        "date": {"__not_a_string": "date 2026-04-05T00:00:00.000Z"},
        "companies_orgs": ["Acme\tLabs"],
        "people": ["Dana O'Neil", {"__not_a_string": "number 1000"}],
        "products_models": [{"__not_a_string": "number 15"}],
    }
    [again] = _js_load(js_yaml, [_front_matter(render_post(post))])
    assert again == expected
