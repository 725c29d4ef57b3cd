"""The Meltano project as the orchestrator sees it: its workspaces, and which of them share a key.

A workspace is an extractor `tap-replies--<name>` with `inherit_from: tap-replies`, defined in a
file that `meltano.yml`'s `include_paths` picks up (`workspaces/<name>.meltano.yml`). Everything
else follows from the name, by Meltano's own rules for an inherited plugin: its namespace, and so
its `load_schema` and the loader's `default_target_schema`, is `tap_replies__<name>`; its settings
are `TAP_REPLIES__<NAME>_*` (then the parent's `TAP_REPLIES_*`); its state id is
`<environment>:tap-replies--<name>-to-<loader>`.

This module reads the same files Meltano reads (meltano.yml, the included files, `.env`) and
never imports Meltano: the Dagster code location loads in every step process, and must be quick.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from dotenv import dotenv_values

from orchestration import overlaps
from tap_replies.tap import PROVIDERS

PARENT = "tap-replies"
PREFIX = f"{PARENT}--"
# Lower-case letters, digits and underscores: the name becomes a schema, an environment-variable
# prefix and a Dagster asset key, and all three must agree.
WORKSPACE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
DEFAULT_ROOT = Path(__file__).resolve().parent.parent
WORKSPACE_FILE = """\
# Workspace {name}: one client's replies, loaded into schema {schema}.
# Its keys and URLs: TAP_REPLIES__{upper}_<PROVIDER>_API_KEY / _API_URL (environment or .env), or
#   meltano config set {plugin} smartlead.api_key '…'
plugins:
  extractors:
  - name: {plugin}
    inherit_from: {parent}
"""


WAREHOUSE_LOADER = "target-postgres"


class ProjectError(Exception):
    """A Meltano project the orchestrator cannot use, phrased as one line with the fix."""


class Unreachable(ProjectError):
    """A service the sync needs did not answer: worth a retry, unlike a wrong setting."""


@dataclass(frozen=True)
class Workspace:
    """One client: its Meltano extractor, the schema its rows land in, its Dagster asset key."""

    name: str
    # Where its rows land when the project says otherwise than the default (a `load_schema`):
    # MeltanoProject.workspaces() fills it in.
    landing_schema: str | None = field(default=None, compare=False)

    @property
    def plugin(self) -> str:
        return PREFIX + self.name

    @property
    def schema(self) -> str:
        # Meltano's namespace of an inherited plugin (its name, '-' → '_'), the default load_schema.
        return self.landing_schema or self.plugin.replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return self.schema.upper() + "_"

    def state_id(self, environment: str, loader: str) -> str:
        return f"{environment}:{self.plugin}-to-{loader}"


def env_name(plugin: str, setting: str) -> str:
    """Meltano's variable for a plugin setting: `tap-replies--acme`, `smartlead.api_key` →
    TAP_REPLIES__ACME_SMARTLEAD_API_KEY."""
    return re.sub(r"[^A-Z0-9_]", "_", f"{plugin}_{setting}".upper())


class MeltanoProject:
    """meltano.yml, the files its include_paths name, and `.env`: read once, at construction."""

    def __init__(self, root: Path, environ: t.Mapping[str, str] | None = None) -> None:
        self.root = root.resolve()
        manifest = self.root / "meltano.yml"
        if not manifest.is_file():
            raise ProjectError(f"no Meltano project at {self.root}: meltano.yml not found — set "
                               "MELTANO_PROJECT_ROOT to the folder that holds it")
        self.manifest = _load_yaml(manifest)
        self.environ = dict(os.environ if environ is None else environ)
        self.dotenv = {k: v for k, v in dotenv_values(self.root / ".env").items() if v is not None}
        included = [(path, _load_yaml(path)) for path in self._included_files()]
        self.plugins = _plugins_by_name([(manifest, self.manifest), *included])

    @classmethod
    def from_env(cls) -> MeltanoProject:
        """The project Meltano itself would use: $MELTANO_PROJECT_ROOT, else this repository."""
        return cls(Path(os.environ.get("MELTANO_PROJECT_ROOT") or DEFAULT_ROOT))

    @property
    def environment(self) -> str:
        return (self.variable("MELTANO_ENVIRONMENT")
                or str(self.manifest.get("default_environment") or ""))

    def variable(self, name: str) -> str | None:
        """A variable as Meltano sees it: the process environment, then the project's `.env`."""
        value = self.environ.get(name)
        return value if value not in (None, "") else (self.dotenv.get(name) or None)

    def has_plugin(self, name: str) -> bool:
        return name in self.plugins

    def workspaces(self, *, checked: bool = True) -> list[Workspace]:
        """Every workspace, with the schema its rows land in. Checked (the default): a
        ProjectError when two would read the same account and campaigns or land in one schema
        (see overlaps.py); `checked=False` lists them anyway, to inspect or reset one."""
        found = self._workspaces()
        problems = overlap_problems(self, found) if checked else []
        if problems:
            raise ProjectError(problems[0] + (f" (and {len(problems) - 1} more: python -m "
                                              "orchestration check)" if problems[1:] else ""))
        return found

    def landing(self, plugin: str) -> overlaps.Landing:
        """The schema target-postgres puts this extractor's rows in, by Meltano's rules: the
        loader's default_target_schema, which is the extractor's load_schema unless set."""
        load_schema = self._extra(plugin, "load_schema")
        namespace = str(self.plugins[plugin].get("namespace") or plugin.replace("-", "_"))
        schema = _expand(str(load_schema or "$MELTANO_EXTRACTOR_NAMESPACE"),
                         {"MELTANO_EXTRACTOR_NAMESPACE": namespace}, self.variable)
        target = self.setting(WAREHOUSE_LOADER, "default_target_schema")
        because = f"load_schema {schema}" if load_schema else ""
        if target and "MELTANO_EXTRACT__LOAD_SCHEMA" not in str(target):
            because = f"{WAREHOUSE_LOADER} default_target_schema is {target}"
        if target:
            schema = _expand(str(target), {"MELTANO_EXTRACT__LOAD_SCHEMA": schema}, self.variable)
        return overlaps.Landing(_extractor(plugin), schema, because)

    def _workspaces(self) -> list[Workspace]:
        found = []
        for name, plugin in self.plugins.items():
            if plugin.get("inherit_from") != PARENT or not name.startswith(PREFIX):
                continue
            workspace = name.removeprefix(PREFIX)
            if not WORKSPACE_NAME.match(workspace):
                raise ProjectError(
                    f"workspace extractor {name!r}: the name after '{PREFIX}' must be lower-case "
                    "letters, digits and underscores (it becomes a schema and a variable prefix)")
            schema = self.landing(name).schema
            default = Workspace(workspace)
            found.append(default if schema == default.schema else Workspace(workspace, schema))
        return sorted(found, key=lambda w: w.name)

    def setting(self, plugin: str, setting: str) -> t.Any:
        """A plugin setting by Meltano's precedence: the plugin's variable, its `config:`, then
        the same from the plugin it inherits from, then the setting's default `value`."""
        definition = self.plugins.get(plugin)
        if definition is None:
            return None
        value = self.variable(env_name(plugin, setting))
        if value is None:
            value = _dotted(definition.get("config") or {}, setting)
        if value is None and definition.get("inherit_from") in self.plugins:
            value = self.setting(definition["inherit_from"], setting)
        if value is None:
            for item in definition.get("settings") or []:
                if item.get("name") == setting:
                    value = item.get("value")
        return value

    def _extra(self, plugin: str, extra: str) -> t.Any:
        """A plugin extra (`load_schema`…): its variable <PLUGIN>__<EXTRA>, its definition, then
        the same of the plugin it inherits from (Meltano 4.4.1 `config list --extras`)."""
        definition = self.plugins.get(plugin) or {}
        value = self.variable(env_name(plugin, "_" + extra))
        if value is None:
            value = definition.get(extra)
        if value is None and definition.get("inherit_from") in self.plugins:
            value = self._extra(definition["inherit_from"], extra)
        return value

    def key_fingerprints(self, workspace: Workspace) -> set[str]:
        """One opaque id per provider key the workspace uses (key + API URL), never the key."""
        return {read.account for read in self.reads(workspace.plugin)}

    def reads(self, plugin: str) -> list[overlaps.Read]:
        """What the extractor reads from each provider it has a key for: the account (a
        fingerprint of key and API URL) and the campaigns (None: every campaign)."""
        found = []
        for provider, known in PROVIDERS.items():
            key = str(self.setting(plugin, f"{provider}.api_key") or "").strip()
            if not key:
                continue
            url = str(self.setting(plugin, f"{provider}.api_url") or known.spec.api_url)
            url = url.rstrip("/")
            digest = hashlib.sha256(f"{provider}\n{url}\n{key}".encode()).hexdigest()
            found.append(overlaps.Read(
                extractor=_extractor(plugin), workspace=_workspace_name(plugin),
                provider=provider, label=known.spec.label, api_url=url, account=digest[:16],
                campaigns=_campaigns(self.setting(plugin, f"{provider}.campaign_ids")),
                key_variable=env_name(plugin, f"{provider}.api_key")))
        return found

    def add_workspace(self, name: str) -> Path:
        """Write workspaces/<name>.meltano.yml: the extractor and nothing else."""
        if not WORKSPACE_NAME.match(name):
            raise ProjectError(f"workspace name {name!r}: use lower-case letters, digits and "
                               "underscores, starting with a letter (at most 50)")
        path = self.root / "workspaces" / f"{name}.meltano.yml"
        if path.exists() or self.has_plugin(PREFIX + name):
            raise ProjectError(f"workspace {name!r} already exists ({path})")
        workspace = Workspace(name)
        path.parent.mkdir(exist_ok=True)
        path.write_text(WORKSPACE_FILE.format(
            name=name, schema=workspace.schema, upper=name.upper(),
            plugin=workspace.plugin, parent=PARENT))
        return path

    def _included_files(self) -> list[Path]:
        files: list[Path] = []
        for pattern in self.manifest.get("include_paths") or []:
            files.extend(sorted(self.root.glob(str(pattern).removeprefix("./"))))
        return files


def overlap_problems(project: MeltanoProject, workspaces: t.Sequence[Workspace]) -> list[str]:
    """One line per pair of extractors (the workspaces, and the parent they inherit from) that
    would read the same account and campaigns, or land in one schema."""
    parent = [PARENT] if project.has_plugin(PARENT) else []
    plugins = [*parent, *(w.plugin for w in workspaces)]
    reads = [read for plugin in plugins for read in project.reads(plugin)]
    landings = [project.landing(plugin) for plugin in plugins]
    # The dbt project finds a workspace's tables by its schema's name, whichever command builds
    # the marts: a workspace elsewhere would be in some builds and not in others.
    elsewhere = [f"workspace {w.name} would load into schema {w.landing_schema}, not "
                 f"{Workspace(w.name).schema} where every dbt build finds a workspace: remove "
                 "the setting that moves it" for w in workspaces if w.landing_schema]
    return [*overlaps.schema_clashes(landings), *elsewhere, *overlaps.account_clashes(reads)]


def key_groups(project: MeltanoProject, workspaces: t.Sequence[Workspace]) -> dict[str, str]:
    """workspace name → the name of its group: workspaces that share any provider key (directly
    or through another workspace) form one group, and a group syncs one workspace at a time."""
    parent = {w.name: w.name for w in workspaces}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    owner: dict[str, str] = {}
    for workspace in workspaces:
        for fingerprint in project.key_fingerprints(workspace):
            if fingerprint in owner:
                first, second = sorted((root(owner[fingerprint]), root(workspace.name)))
                parent[second] = first
            else:
                owner[fingerprint] = workspace.name
    members: dict[str, list[str]] = {}
    for workspace in workspaces:
        members.setdefault(root(workspace.name), []).append(workspace.name)
    return {name: _group_name(sorted(members[root(name)])) for name in parent}


def _group_name(members: list[str]) -> str:
    """The members joined, or for a long list the first, a count and a digest of them all."""
    joined = "+".join(members)
    if len(joined) <= 60:
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    return f"{members[0]}+{len(members) - 1}-more-{digest}"


def _load_yaml(path: Path) -> dict[str, t.Any]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(loaded, dict):
        raise ProjectError(f"{path}: expected a mapping at the top level")
    return loaded


def _plugins_by_name(sources: list[tuple[Path, dict[str, t.Any]]]) -> dict[str, dict]:
    """Every plugin of meltano.yml and its included files by name; a file of the wrong shape, or
    a plugin defined twice (Meltano refuses every command then), is a ProjectError naming it."""
    plugins: dict[str, dict] = {}
    defined_in: dict[str, Path] = {}
    for path, source in sources:
        for name, plugin in _plugin_definitions(path, source):
            if name in defined_in:
                where = ("twice in " + str(path) if defined_in[name] == path
                         else f"in {defined_in[name]} and in {path}")
                raise ProjectError(f"plugin {name!r} is defined {where}: keep one (Meltano "
                                   "refuses every command while a plugin is defined twice)")
            plugins[name], defined_in[name] = plugin, path
    return plugins


def _plugin_definitions(path: Path, source: dict[str, t.Any]
                        ) -> t.Iterator[tuple[str, dict[str, t.Any]]]:
    """(name, definition) of each plugin in one file, once its shape is Meltano's."""
    kinds = source.get("plugins") or {}
    if not isinstance(kinds, dict):
        raise ProjectError(f"{path}: 'plugins' must map a plugin type (extractors, loaders, …) "
                           "to a list of plugins")
    for kind, plugins in kinds.items():
        if not isinstance(plugins, list):
            raise ProjectError(f"{path}: plugins.{kind} must be a list of plugins "
                               "(each item starting with '- name: …')")
        for index, plugin in enumerate(plugins):
            name = plugin.get("name") if isinstance(plugin, dict) else None
            if not isinstance(name, str) or not name:
                raise ProjectError(f"{path}: plugins.{kind}[{index}] has no 'name:' — each "
                                   "plugin is a mapping with its name, e.g. "
                                   "'- name: tap-replies--acme'")
            yield name, plugin


def _expand(value: str, known: t.Mapping[str, str],
            variable: t.Callable[[str], str | None]) -> str:
    """`$NAME` / `${NAME}` as Meltano expands them: `known`, then the project's variables."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return known.get(name) or variable(name) or ""

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, value)


def _extractor(plugin: str) -> str:
    name = _workspace_name(plugin)
    return f"the parent {plugin}" if name is None else f"workspace {name}"


def _workspace_name(plugin: str) -> str | None:
    return plugin.removeprefix(PREFIX) if plugin.startswith(PREFIX) else None


def _campaigns(value: t.Any) -> frozenset[str] | None:
    """campaign_ids as a set of ids (a variable holds them as JSON); None: every campaign."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [part for part in re.split(r"[,\s]+", value.strip("[]")) if part]
    if not isinstance(value, (list, tuple)) or not value:
        return None
    return frozenset(str(item).strip().strip("'\"") for item in value)


def _dotted(config: dict[str, t.Any], setting: str) -> t.Any:
    """`smartlead.api_key` in a `config:` block, nested or written with the dot."""
    if setting in config:
        return config[setting]
    head, _, rest = setting.partition(".")
    inner = config.get(head)
    return _dotted(inner, rest) if rest and isinstance(inner, dict) else None
