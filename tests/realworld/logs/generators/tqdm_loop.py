"""The hand-written loop most scripts have: a tqdm bar per epoch with the loss as postfix, then a val line."""
import torch
from tqdm import tqdm

torch.manual_seed(0)
x = torch.randn(2048, 8)
y = x @ torch.randn(8, 1)
model = torch.nn.Linear(8, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for epoch in range(3):
    bar = tqdm(range(0, 1792, 16), desc=f"Epoch {epoch}")
    for i in bar:
        loss = torch.nn.functional.mse_loss(model(x[i:i + 16]), y[i:i + 16])
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
    with torch.no_grad():
        val = torch.nn.functional.mse_loss(model(x[1792:]), y[1792:]).item()
    print(f"epoch {epoch}: val_loss={val:.4f}")
