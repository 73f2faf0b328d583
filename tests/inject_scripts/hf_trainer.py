"""HF Trainer on a tiny randomly initialised model and synthetic token ids (no download)."""
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


class Synthetic(torch.utils.data.Dataset):
    def __init__(self, n=32, seq=8, vocab=50):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, vocab, (n, seq), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def main():
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)
    model = BertForSequenceClassification(config)
    args = TrainingArguments(
        output_dir="out",
        per_device_train_batch_size=8,
        max_steps=6,
        logging_steps=1,
        learning_rate=1e-3,
        use_cpu=True,
        save_strategy="no",
    )
    trainer = Trainer(model=model, args=args, train_dataset=Synthetic())
    trainer.train()


if __name__ == "__main__":
    main()
