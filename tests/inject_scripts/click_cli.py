"""A click command whose options are the hyperparameters."""
import click
import torch


def fit(model, opt, steps):
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return model


@click.command()
@click.option("--lr", default=0.05, type=float)
@click.option("--steps", default=5, type=int)
def main(lr, steps):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    fit(model, opt, steps)
    click.echo("done")


if __name__ == "__main__":
    main()
