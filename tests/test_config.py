from __future__ import annotations

from pathlib import Path

import pytest

from gitbot.config import Config, Environment, load_config, parse_config, parse_duration
from gitbot.errors import InputError
from gitbot.globs import glob_match, path_matches


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / ".gitbot.yaml").write_text(text)
    return tmp_path


def test_missing_default_config_is_empty(tmp_path: Path) -> None:
    assert load_config(tmp_path, None) == Config()


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^config .*nope.yaml: no such file$"):
        load_config(tmp_path, tmp_path / "nope.yaml")


def test_full_config(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
environments:
  - name: production
    paths: ["clusters/prod/**"]
    namespaces: [shop]
  - name: staging
    namespaces: ["*-staging"]
default_environment: staging
exclude: [release/**]
namespaces:
  - paths: [apps/**]
    namespace: shop
kustomize:
  targets: [overlays/prod/]
helm:
  releases:
    - chart: charts/web/
      name: web
      namespace: web-prod
      values: [charts/web/values-prod.yaml]
      environment: production
exemptions:
  - workload: shop/Deployment/legacy-*
    reason: frozen until Q3
settings:
  cpu_request_percentile: 90
history: 7d
step: 1m
catalog: aws
""",
        ),
        None,
    )
    assert config.environments == (
        Environment("production", "production", ("clusters/prod/**",), ("shop",)),
        Environment("staging", "non-production", (), ("*-staging",)),
    )
    assert config.default_environment == config.environments[1]
    assert config.kustomize_targets == ("overlays/prod/",)
    assert config.helm_releases[0].chart == "charts/web"
    assert config.helm_releases[0].values == ("charts/web/values-prod.yaml",)
    assert config.history_seconds == 7 * 86400 and config.step_seconds == 60
    assert config.catalog == "aws"
    assert config.settings == {"cpu_request_percentile": 90}
    assert config.environment_for("clusters/prod/apps/x.yaml", "other").name == "production"
    assert config.environment_for("apps/x.yaml", "shop-staging").name == "staging"
    assert config.environment_for("apps/x.yaml", "elsewhere").name == "staging"  # the default
    assert config.environment_for("apps/x.yaml", "elsewhere", name="production").name == "production"
    assert config.default_namespace("apps/a/b.yaml") == "shop"
    assert config.default_namespace("other/b.yaml") is None
    exemption = config.exemption_for("shop/Deployment/legacy-admin", "admin")
    assert exemption is not None and exemption.reason == "frozen until Q3"
    assert config.exemption_for("shop/Deployment/cart", "cart") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "config .gitbot.yaml: expected a mapping, got a list"),
        ("environment: []\n", "config .gitbot.yaml: environment: unknown key (allowed: catalog, default_environment, environments, exclude, exemptions, helm, history, kustomize, limits, namespaces, placement, pull_requests, repository_urls, rules, settings, step, version)"),
        ("environments:\n  - name: prod\n    tier: live\n", "config .gitbot.yaml: environments[0].tier: must be one of production, non-production, not 'live'"),
        ("environments:\n  - tier: production\n", "config .gitbot.yaml: environments[0].name: is required"),
        ("environments:\n  - name: a\n  - name: a\n", "config .gitbot.yaml: environments: duplicate environment name 'a'"),
        ("exemptions:\n  - workload: a/b/c\n", "config .gitbot.yaml: exemptions[0].reason: is required"),
        ("exemptions:\n  - workload: a/b/c\n    reason: '  '\n", "config .gitbot.yaml: exemptions[0].reason: must say why the workload is exempt"),
        ("history: 2 weeks\n", "config .gitbot.yaml: history: '2 weeks' is not a duration like 90s, 5m, 6h, 14d or 2w"),
        ("helm:\n  releases:\n    - chart: c\n      name: n\n      environment: nope\n", "config .gitbot.yaml: helm.releases[0].environment: unknown environment 'nope'"),
        ("exclude: [1]\n", "config .gitbot.yaml: exclude[0]: expected a non-empty string, got a number"),
        ("pull_requests:\n  scope: team\n", "config .gitbot.yaml: pull_requests.scope: must be one of repository, directory, environment, not 'team'"),
        ("pull_requests:\n  reopen_threshold_pct: 5.5\n", "config .gitbot.yaml: pull_requests.reopen_threshold_pct: expected a whole number of percent, 0 to 1000"),
        ("pull_requests:\n  author: {name: bot, mail: x}\n", "config .gitbot.yaml: pull_requests.author.mail: unknown key (allowed: email, name)"),
        ("helm:\n  charts: [podinfo]\n", "config .gitbot.yaml: helm.charts: expected a mapping, got a list"),
        ("helm:\n  charts:\n    podinfo: 3\n", "config .gitbot.yaml: helm.charts.podinfo: expected a non-empty string, got a number"),
        ("placement: always\n", "config .gitbot.yaml: placement: must be comment or edit, not 'always'"),
        ("a: 1\na: 2\n", "config .gitbot.yaml:2: invalid YAML: found duplicate key \"a\""),
        ("a: [\n", "config .gitbot.yaml:2: invalid YAML: expected the node content, but found '<stream end>'"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        load_config(write(tmp_path, text), None)
    assert str(info.value) == message


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90s", "5m", "6h", "14d", "2w")] == [90, 300, 21600, 1209600, 1209600]
    for bad in ("0d", "1y", "", "5"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_default_tier_follows_the_name() -> None:
    config = parse_config({"environments": [{"name": "prod-eu"}, {"name": "dev"}]}, "x")
    assert [e.tier for e in config.environments] == ["production", "non-production"]


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("apps/**", "apps/a/b.yaml", True),
        ("apps/**", "apps", True),  # a target directory is covered by its own subtree pattern
        ("apps/**", "apps-old", False),
        ("apps/*", "apps/a/b.yaml", False),
        ("**/prod/*.yaml", "x/y/prod/a.yaml", True),
        ("**/prod/*.yaml", "prod/a.yaml", True),
        ("*-staging", "shop-staging", True),
        ("*-staging", "a/shop-staging", False),
        ("shop/Deployment/legacy-*", "shop/Deployment/legacy-admin", True),
        ("shop/*/web", "shop/Deployment/web", True),
        ("a?c", "abc", True),
        ("a.c", "abc", False),
    ],
)
def test_glob(pattern: str, text: str, expected: bool) -> None:
    assert glob_match(pattern, text) is expected


def test_path_matches_parents() -> None:
    assert path_matches(("apps/*",), "apps/x/deploy.yaml")
    assert not path_matches(("apps/*",), "other/x/deploy.yaml")
