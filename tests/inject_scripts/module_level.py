# A module-level script: no main(), constants at the top, the loop at the bottom.
import torch

lr = 0.05
steps = 6
hidden = 8

torch.manual_seed(0)
x = torch.randn(32, 4)
y = x.sum(dim=1, keepdim=True)
model = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
opt = torch.optim.Adam(model.parameters(), lr=lr)

for step in range(steps):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    print(f"step {step} loss {loss.item():.4f}")

val_loss = torch.nn.functional.mse_loss(model(x), y).item()
print(f"val_loss={val_loss:.4f}")
