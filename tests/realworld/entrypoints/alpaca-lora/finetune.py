# tloen/alpaca-lora finetune.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import sys
import fire
import torch
import transformers
from peft import LoraConfig, get_peft_model
def train(base_model: str = '', data_path: str = 'yahma/alpaca-cleaned', output_dir: str = './lora-alpaca', batch_size: int = 128):
    trainer = transformers.Trainer(model=model, train_dataset=train_data, args=transformers.TrainingArguments(output_dir=output_dir))
    trainer.train()
if __name__ == '__main__':
    fire.Fire(train)
