"""A typer app: `typer.run(main)` with annotated parameters."""
import torch
import typer


def main(lr: float = 0.05, steps: int = 5, seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    for step in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        typer.echo(f"step={step} loss={loss.item():.4f}")


if __name__ == "__main__":
    typer.run(main)
