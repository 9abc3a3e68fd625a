"""``whet recommend``: train, evaluate, recommend, and change the catalog of a saved recommender.

Each command parses its arguments and calls a plain function of ``whet.recommend``; the
``whet`` entry point turns their ``WhetError`` into one line and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from whet.errors import WhetError

recommend_app = typer.Typer(no_args_is_help=True, help="Recommend items from their text, fine-tuned on users' histories.")

ModelDir = Annotated[Path, typer.Argument(help="A recommender model directory (RUN_DIR/model of whet recommend train).")]
Sets = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value, e.g. --set training.lr=3e-5.")]


@recommend_app.command("train")
def train(config: Annotated[Path, typer.Argument(help="Recommender config (YAML).")], set_: Sets = None,
          output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Run directory (output.dir).")] = None,
          ) -> None:
    """Fine-tune the bi-encoder on the interactions, index the catalog, evaluate on dev."""
    from whet.recommend.settings import load_recommend_config
    from whet.recommend.train import train_recommender

    overrides = list(set_ or []) + ([f"output.dir={output}"] if output else [])
    loaded = load_recommend_config(config, overrides)
    figures = train_recommender(loaded)
    typer.echo(json.dumps(figures))
    typer.echo(f"model written to {Path(loaded.output.dir) / 'model'}", err=True)


@recommend_app.command("eval")
def evaluate(model: ModelDir, config: Annotated[Path, typer.Argument(help="Config whose data section names the interactions and dev targets.")],
             set_: Sets = None) -> None:
    """Rank each dev target against the items its user has not seen: Recall@10, NDCG@10, MRR."""
    from whet.recommend.recommender import evaluate_recommender, load_recommender
    from whet.recommend.settings import load_recommend_config

    loaded = load_recommend_config(config, list(set_ or []))
    if loaded.data.dev is None:
        raise WhetError(f"{config}: data.dev is not set; name the dev targets to evaluate on")
    typer.echo(json.dumps(evaluate_recommender(load_recommender(model), loaded.data)))


@recommend_app.command("predict")
def predict(model: ModelDir,
            user: Annotated[Optional[str], typer.Option("--user", help="A user the model was trained on (or of --config's interactions); an unknown user is recommended for as a new one.")] = None,
            history: Annotated[Optional[str], typer.Option("--history", help="Item ids the user liked, oldest first, comma-separated; \"\" for none.")] = None,
            config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Config whose interactions --user is read from (default: the users saved with the model).")] = None,
            interests: Annotated[Optional[str], typer.Option("--interests", help="Free text of what the user likes, with or without a history.")] = None,
            diversity: Annotated[float, typer.Option("--diversity", min=0.0, max=1.0, help="Maximal Marginal Relevance trade-off: 0 pure relevance, towards 1 more varied.")] = 0.0,
            exclude: Annotated[Optional[str], typer.Option("--exclude", help="Item ids never to recommend, comma-separated.")] = None,
            k: Annotated[int, typer.Option("-k", min=1, help="Recommendations to give.")] = 10) -> None:
    """Recommend K items, each with the history items that most support it (JSON lines). With no
    history and no interests, the most popular items."""
    from whet.recommend.recommender import load_recommender, predict_case

    if user is not None and history is not None:
        raise WhetError("give either --user or --history, not both")
    if user is None and history is None and interests is None:
        raise WhetError("give --user, --history or --interests (--history \"\" for the most popular items)")
    recommender = load_recommender(model)
    case, note = predict_case(recommender, user=user, history=history, config=config)
    if note:
        typer.echo(note, err=True)
    excluded = recommender.positions([item.strip() for item in (exclude or "").split(",") if item.strip()], "--exclude")
    found = recommender.recommend(case.history, case.seen, k, exclude=set(excluded), interests=interests,
                                  diversity=diversity)
    if not case.history and not (interests or "").strip():
        typer.echo("no history or interests: the most popular items (score: users who took the item)", err=True)
    for rank, item in enumerate(found, 1):
        typer.echo(json.dumps({"rank": rank, "item": item.item, "score": round(item.score, 4), "text": item.text,
                               "because": item.because}, ensure_ascii=False))


@recommend_app.command("add-items")
def add_items(model: ModelDir, items: Annotated[Path, typer.Argument(help="New items: JSON lines or CSV.")],
              id_field: Annotated[str, typer.Option(help="The items' id field.")] = "id",
              text_field: Annotated[Optional[list[str]], typer.Option("--text-field", help="Text fields, joined with '. ' (repeatable; default: title).")] = None,
              ) -> None:
    """Embed new items from their text and add them to the index; no retraining."""
    from whet.recommend.data import read_catalog
    from whet.recommend.recommender import load_recommender

    new = read_catalog(items, id_field=id_field, text_fields=list(text_field or ["title"]))
    recommender = load_recommender(model)
    added = recommender.add_items(new.ids, new.texts, new.query_texts)
    recommender.save_items(model)
    typer.echo(f"{added} items added; {recommender.index.ntotal} indexed", err=True)


@recommend_app.command("remove-items")
def remove_items(model: ModelDir, ids: Annotated[list[str], typer.Argument(help="Item ids to stop recommending.")]) -> None:
    """Take items out of the index (they stay in the catalog, so histories may still name them)."""
    from whet.recommend.recommender import load_recommender

    recommender = load_recommender(model)
    removed = recommender.remove_items(ids)
    recommender.save_items(model)
    typer.echo(f"{removed} items removed; {recommender.index.ntotal} indexed", err=True)


@recommend_app.command("index")
def index(model: ModelDir) -> None:
    """Rebuild the item index with the encoder in the model directory (after replacing the encoder)."""
    from whet.recommend.recommender import rebuild_index

    typer.echo(f"{rebuild_index(model)} items indexed", err=True)
