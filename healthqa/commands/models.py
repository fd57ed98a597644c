"""models add / list / test: where and how to call a model. Keys stay out of the workspace."""

from __future__ import annotations

import getpass
import sys

from pydantic import ValidationError

from ..domain import PROVIDERS, ModelConfig, ReasoningMode
from ..errors import CommandError
from ..providers import ProviderError, capabilities_for, check_connection, describe, read_timeout
from ..secrets import KeyStoreError, MissingKeyError, get_api_key, key_source, store_api_key
from ..store import get_model_config, list_model_configs, remember_learned, save_model_config
from .common import add_command, add_group, open_from, print_rows


def register(sub) -> None:
    models = add_group(sub, "models", "Model configs: add, list, test.",
                       "Model configs: which provider and model to call, and how.")

    p = add_command(models, "add", cmd_add, "Add (or replace) a model config. No key is stored in the workspace.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--provider", required=True, choices=PROVIDERS)
    p.add_argument("--model", required=True, metavar="ID", help="the provider's model id")
    p.add_argument("--base-url", metavar="URL", help="e.g. http://localhost:11434/v1 for Ollama")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--api-key-env", metavar="VAR", help="read the key from this environment variable")
    keys.add_argument("--keyring", action="store_true",
                      help="store the key in the OS keyring (read from stdin, or asked for)")
    p.add_argument("--reasoning", choices=[m.value for m in ReasoningMode], default="off")
    p.add_argument("--temperature", type=float, metavar="T")
    p.add_argument("--max-output-tokens", type=int, metavar="N")
    p.add_argument("--system-prompt", metavar="TEXT")
    p.add_argument("--price-in", type=float, metavar="USD", help="price per million input tokens")
    p.add_argument("--price-out", type=float, metavar="USD", help="price per million output tokens")
    p.add_argument("--price-cached-in", type=float, metavar="USD",
                   help="price per million cached input tokens (default: the provider's usual share of --price-in)")
    p.add_argument("--price-cache-write", type=float, metavar="USD",
                   help="price per million tokens written to the prompt cache (Anthropic)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="seconds to wait for a reply (default: 600 when the model reasons, else 120)")

    p = add_command(models, "list", cmd_list, "List model configs and where their keys come from.")
    p.add_argument("--json", action="store_true")

    p = add_command(models, "test", cmd_test, "Send one tiny request and say what is wrong, if anything.")
    p.add_argument("name", metavar="NAME")


def cmd_add(args) -> int:
    try:
        config = ModelConfig(
            name=args.name, provider=args.provider, model=args.model, base_url=args.base_url,
            api_key_env=args.api_key_env, use_keyring=args.keyring, reasoning=args.reasoning,
            temperature=args.temperature, max_output_tokens=args.max_output_tokens,
            system_prompt=args.system_prompt, price_in_per_mtok=args.price_in, price_out_per_mtok=args.price_out,
            price_cached_in_per_mtok=args.price_cached_in, price_cache_write_per_mtok=args.price_cache_write,
            timeout=args.timeout,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise CommandError(f"invalid model config: {problems}") from None
    if args.keyring:
        try:
            store_api_key(config.name, _read_key(config.name))
        except (KeyStoreError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    with open_from(args, create=True) as ws:
        save_model_config(ws, config)
    print(f"Saved model config {config.name!r}: {config.provider} {config.model}; key from {key_source(config)}")
    return 0


def _read_key(name: str) -> str:
    """The key from a pipe (`... | healthqa models add --keyring`) or a hidden prompt."""
    if sys.stdin is None or not sys.stdin.isatty():
        return (sys.stdin.readline() if sys.stdin else "").strip()
    return getpass.getpass(f"API key for {name} (not shown): ").strip()


def cmd_list(args) -> int:
    with open_from(args) as ws:
        configs = list_model_configs(ws)
    rows = [{**c.model_dump(mode="json"), "key_source": key_source(c), "timeout": read_timeout(c),
             "accepts": describe(capabilities_for(c.provider, c.model).with_learned(c.learned)),
             "learned": c.learned_notes} for c in configs]
    print_rows(args, rows, ["name", "provider", "model", "base_url", "reasoning", "key_source"],
               empty="No model configs yet: `healthqa models add NAME --provider ... --model ...` adds one.")
    if not args.json:
        for row in rows:
            for note in row["learned"]:
                print(f"learned: {note}")
    return 0


def cmd_test(args) -> int:
    with open_from(args) as ws:
        config = get_model_config(ws, args.name)
    if config is None:
        raise CommandError(f"no model config named {args.name!r}")
    try:
        key = get_api_key(config)
    except MissingKeyError as exc:
        raise CommandError(str(exc)) from None

    lessons: list[tuple[dict, str]] = []
    try:
        print(f"{config.name}: {check_connection(config, key, on_learned=lambda caps, note: lessons.append((caps, note)))}")
    except ProviderError as exc:  # already says what to fix, never the key
        raise CommandError(f"{config.name}: {exc.message}") from None
    finally:
        if lessons:
            with open_from(args) as ws:
                for caps, note in lessons:
                    remember_learned(ws, config.id, config.model, caps, note)
                    print(f"notice: {note} (remembered on the model config)", file=sys.stderr)
    return 0
