"""The README's config reference is the typed config's own: generated from components/config.py, checked here."""

from pathlib import Path

from pydantic import BaseModel

from components.config import RunConfig, config_table_markdown, with_config_table

ROOT = Path(__file__).parent.parent


def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield prefix + name, field
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _fields(field.annotation, prefix + name + ".")


def test_every_config_field_has_a_description():
    missing = [key for key, field in _fields(RunConfig) if not field.description]
    assert not missing, f"RunConfig fields without a description: {missing}"


def test_table_lists_every_field_with_its_default():
    table = config_table_markdown()
    for key, _ in _fields(RunConfig):
        assert f"| `{key}` |" in table or f"| **{key}** |" in table, key
    # the fields the hand-written table had lost, and the data defaults it had wrong
    assert "| `train.logging_steps` | `5` |" in table
    assert "| `train.eval_each_epoch` | `true` |" in table
    assert "| `train.report_to` | `[]` |" in table
    assert "| `registry.experiment` | `lmms-finetune` |" in table
    assert "| `data.train_path` | `example_data/train.json` |" in table
    assert "| `data.image_folder` | none |" in table
    assert "| `train.llm` | `lora` |" in table and "One of: `lora`, `qlora`, `full`, `frozen`." in table


def test_readme_config_table_is_current():
    readme = (ROOT / "README.md").read_text()
    assert readme == with_config_table(readme), (
        "README.md's config table is stale: run `python -m components.config --readme`"
    )
