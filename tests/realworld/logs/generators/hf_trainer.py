"""A tiny transformers Trainer run on CPU (random BERT, synthetic labels): the log HF Trainer prints.

Usage: python hf_trainer.py [--no-tqdm]   (stdout+stderr to a file, as a detached run writes them)
"""
import sys

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

torch.manual_seed(0)


class Data(torch.utils.data.Dataset):
    def __init__(self, n):
        self.x = torch.randint(5, 50, (n, 16))
        self.y = (self.x[:, 0] > 27).long()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.y[i]}


model = BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=2, intermediate_size=64))
args = TrainingArguments(output_dir="/tmp/hf-out", num_train_epochs=3, per_device_train_batch_size=16,
                         logging_steps=5, eval_strategy="epoch", save_strategy="no", report_to=[],
                         disable_tqdm="--no-tqdm" in sys.argv, learning_rate=1e-3, use_cpu=True)
Trainer(model=model, args=args, train_dataset=Data(480), eval_dataset=Data(96)).train()
