"""Every fenced block of README.md and docs/ that a reader could run (shell, python, or no
language) is claimed here: by the tests that run it, or with the reason it is not run on this
machine. A new block that nobody claims fails, and so does a claim whose block is gone or whose
test does not exist, so the coverage of the pages cannot rot silently. (JSON blocks are data,
not commands; the pages under docs/reference/ are generated from the code, and
tests/docs/test_reference_pages.py keeps them current.)"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pytest

from tests.support.doc_blocks import ROOT, Block, all_pages, code_blocks, page_blocks, section


@dataclass(frozen=True)
class Runs:
    """Run by these tests (``path::function``)."""

    tests: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class NotRun:
    """Deliberately not executed here, and why (and what checks it instead, if anything)."""

    reason: str


def runs(*tests: str, note: str = "") -> Runs:
    return Runs(tests, note)


PAGES = "tests/docs/test_doc_pages.py::"
README = "tests/docs/test_readme.py::"
ADMIN = "tests/docs/test_doc_admin.py::"
ENGINES = "tests/docs/test_doc_engines.py::"
CLIENT_INSTALL = "tests/deploy/test_client_install.py::"
NOT_A_COMMAND = NotRun("not a command: an example of output or a diagram")

REGISTRY: dict[tuple[str, str], Runs | NotRun] = {
    # README.md
    ("README.md", "make serve\n"): runs(
        README + "test_the_quickstart_commands_are_make_targets",
        README + "test_the_quickstart_server_prints_a_demo_key_and_serves_the_dashboard",
        note="the server `make serve` starts, as the Makefile runs it",
    ),
    ("README.md", "make test\n"): runs(
        README + "test_the_quickstart_commands_are_make_targets",
        note="the Makefile target is checked; the suite itself is what runs this test",
    ),
    ("README.md", "curl -X POST"): runs(README + "test_the_curl_walk_through"),
    ("README.md", "from opendance.client import"): runs(README + "test_the_sdk_example"),
    ("README.md", "from openai import OpenAI"): runs(README + "test_the_openai_sdk_example"),
    # docs/getting-started.md
    ("docs/getting-started.md", "make serve\n"): runs(
        "tests/docs/test_doc_blocks.py::test_the_quickstart_is_the_readme_one",
        note="the README's quickstart, run by its tests",
    ),
    ("docs/getting-started.md", "make test\n"): runs(
        "tests/docs/test_doc_blocks.py::test_the_quickstart_is_the_readme_one"
    ),
    ("docs/getting-started.md", "curl -X POST"): runs(
        PAGES + "test_the_getting_started_curl_walk_through"
    ),
    # docs/sdk.md
    ("docs/sdk.md", "generate_and_wait"): runs(PAGES + "test_the_sdk_example"),
    ("docs/sdk.md", "import verify"): runs(
        PAGES + "test_the_webhook_verify_example", PAGES + "test_the_command_line_block"
    ),
    ("docs/sdk.md", "export OPENDANCE_API_KEY"): runs(PAGES + "test_the_command_line_block"),
    # docs/dialects
    ("docs/dialects/openai.md", "from openai import OpenAI"): runs(
        PAGES + "test_the_openai_dialect_example"
    ),
    ("docs/dialects/ark.md", "from volcenginesdkarkruntime"): runs(
        PAGES + "test_the_ark_dialect_example"
    ),
    # docs/install.md
    ("docs/install.md", "pip install opendance\n"): runs(
        CLIENT_INSTALL + "test_the_client_works_in_its_own_install",
        PAGES + "test_the_client_alone_block",
        note="the install in a fresh venv; the commands against a local server",
    ),
    ("docs/install.md", "$ opendance serve"): runs(
        "tests/docs/test_doc_install.py::test_the_client_only_refusal_is_the_one_shown",
        CLIENT_INSTALL + "test_the_client_works_in_its_own_install",
    ),
    ("docs/install.md", "pip install 'opendance[server]'\nopendance serve"): runs(
        CLIENT_INSTALL + "test_the_client_install_brings_none_of_the_server",
        README + "test_the_quickstart_server_prints_a_demo_key_and_serves_the_dashboard",
        note="the extra is resolved from the index (dry run); `opendance serve` runs",
    ),
    ("docs/install.md", "docker build"): NotRun(
        "no Docker here; tests/deploy/test_image_default_command.py runs the image's default"
        " command from deploy/Dockerfile locally"
    ),
    ("docs/install.md", "docker run -p 8000:8000 -v"): NotRun(
        "no Docker here; tests/deploy/test_deploy_files.py checks the image's settings"
    ),
    ("docs/install.md", "pip install -c constraints.txt '.[server]'"): runs(
        CLIENT_INSTALL + "test_the_client_install_brings_none_of_the_server",
        note="resolved with the lock from the package index (dry run)",
    ),
    ("docs/install.md", "pip freeze --exclude-editable"): NotRun(
        "rewrites constraints.txt from the package index after a dependency change;"
        " tests/deploy/test_deploy_files.py checks the lock pins every dependency"
    ),
    # docs/operating
    ("docs/operating/index.md", "opendance accounts set-password NAME"): runs(
        ADMIN + "test_every_command_and_option_of_the_synopsis_exists",
        ADMIN + "test_the_admin_sequence",
    ),
    ("docs/dashboard.md", "opendance accounts create alice"): runs(
        ADMIN + "test_every_command_and_option_of_the_synopsis_exists",
        ADMIN + "test_the_admin_sequence",
    ),
    ("docs/operating/postgresql.md", "createdb"): runs(
        "tests/docs/test_doc_postgresql.py::test_the_page_names_one_database",
        "tests/docs/test_doc_postgresql.py::test_migrate_then_an_api_and_a_worker_complete_a_task",
        note="createdb and the URL are the test's own fresh database on the local server",
    ),
    ("docs/operating/s3.md", "OPENDANCE_STORAGE_URL=s3://"): NotRun(
        "needs a real bucket and credentials; tests/storage/test_s3_end_to_end.py runs the"
        " same settings against a moto S3 server on loopback"
    ),
    ("docs/operating/metrics.md", '"level":"info"'): NOT_A_COMMAND,
    # docs/engines.md
    ("docs/engines.md", "pip install torch"): NotRun(
        "installs torch for a GPU and serves real weights from /models (not here; nothing is"
        " downloaded); the tiny-model block below runs the same code path"
    ),
    ("docs/engines.md", "make-tiny ltx2"): runs(
        ENGINES + "test_make_tiny_then_serve_the_tiny_ltx2"
    ),
    ("docs/engines.md", "OPENDANCE_ENGINE=upstream"): NotRun(
        "forwards to a real upstream service; tests/worker/test_upstream_end_to_end.py runs"
        " the upstream engine against a Seedance-compatible server on loopback"
    ),
    # docs/performance.md, docs/development.md
    ("docs/performance.md", "bench/bench_model_engine.py"): NotRun(
        "a 20-minute benchmark: `make bench` runs it"
    ),
    ("docs/performance.md", "make-tiny wan"): runs(
        "tests/models/test_recipes.py::test_models_check_shows_the_active_recipe",
        note="`models check --recipe balanced` on a tiny Wan made by the module's fixture",
    ),
    ("docs/performance.md", "hf download"): runs(
        "tests/models/test_gpu_video_bench.py::test_tiny_dry_run_compares_the_recipes",
        note="only its dry run (--tiny); the CUDA torch install, `hf download` and the H100"
        " runs need a GPU and the network",
    ),
    ("docs/development.md", "make check"): NotRun(
        "CI's own steps (.ci/run): the test suite, lint, types, the docs build, benchmarks"
    ),
    ("docs/development.md", "python -m opendance.docs_gen"): runs(
        "tests/docs/test_reference_pages.py::test_check_mode_finds_a_stale_page",
        "tests/docs/test_reference_pages.py::test_the_committed_page_is_current",
    ),
    # examples that are not commands
    ("docs/architecture.md", "client ──POST"): NOT_A_COMMAND,
    ("docs/webhooks.md", "webhook-id: msg_"): NOT_A_COMMAND,
}

GENERATED = ("docs/reference/",)
DATA_LANGUAGES = {"json"}


def _claimable() -> list[Block]:
    return [
        b
        for page in all_pages()
        if not page.startswith(GENERATED)
        for b in page_blocks(page)
        if b.lang not in DATA_LANGUAGES
    ]


def _claims_of(found: Block) -> list[tuple[str, str]]:
    return [(page, fp) for page, fp in REGISTRY if page == found.page and fp in found.body]


def test_every_runnable_block_is_claimed_once() -> None:
    unclaimed = [str(b) for b in _claimable() if not _claims_of(b)]
    assert not unclaimed, (
        "blocks no test runs and no reason excuses; run them in a test under tests/docs and"
        " claim them in REGISTRY, or say there why they cannot run here:\n" + "\n".join(unclaimed)
    )
    twice = [str(b) for b in _claimable() if len(_claims_of(b)) > 1]
    assert not twice, twice


def test_every_claim_names_one_block() -> None:
    blocks = _claimable()
    for page, fingerprint in REGISTRY:
        matching = [b for b in blocks if b.page == page and fingerprint in b.body]
        assert len(matching) == 1, f"{page}: {len(matching)} blocks hold {fingerprint!r}"


@pytest.mark.parametrize(
    "test", sorted({t for c in REGISTRY.values() if isinstance(c, Runs) for t in c.tests})
)
def test_every_claiming_test_exists(test: str) -> None:
    path, _, name = test.partition("::")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert callable(getattr(module, name, None)), f"{test} does not exist"


def test_every_excuse_says_why() -> None:
    for claim in REGISTRY.values():
        if isinstance(claim, NotRun):
            assert len(claim.reason) > 20


def _quickstart(text: str) -> list[str]:
    return [body.strip() for _, body in code_blocks(section(text, "Quickstart"))]


def test_the_quickstart_is_the_readme_one() -> None:
    """docs/getting-started.md repeats the README's two commands, which its tests run."""
    readme = (ROOT / "README.md").read_text()
    page = (ROOT / "docs/getting-started.md").read_text()
    assert _quickstart(page) == _quickstart(readme) == ["make serve", "make test"]
