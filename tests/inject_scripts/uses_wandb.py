import torch
import wandb

run = wandb.init(project="mine", config={"lr": 0.1})
model = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(3):
    opt.zero_grad()
    loss = model(torch.randn(4, 2)).pow(2).mean()
    loss.backward()
    opt.step()
    wandb.log({"loss": loss.item()})
run.finish()
