# tatsu-lab/stanford_alpaca train.py: structure re-typed (imports, entry-point calls, flags), not the original code
from dataclasses import dataclass, field
import transformers
from transformers import Trainer
@dataclass
class ModelArguments:
    model_name_or_path: str = field(default='facebook/opt-125m')
@dataclass
class DataArguments:
    data_path: str = field(default=None, metadata={'help': 'Path to the training data.'})
@dataclass
class TrainingArguments(transformers.TrainingArguments):
    model_max_length: int = field(default=512)
def train():
    parser = transformers.HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses()
    trainer = Trainer(model=model, tokenizer=tokenizer, args=training_args)
    trainer.train()
if __name__ == '__main__':
    train()
