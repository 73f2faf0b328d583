# ashleve/lightning-hydra-template src/eval.py: structure re-typed (imports, entry-point calls, flags), not the original code
import hydra
import lightning as L
@hydra.main(version_base='1.3', config_path='../configs', config_name='eval.yaml')
def main(cfg):
    trainer.test(model=model, datamodule=datamodule)
if __name__ == '__main__':
    main()
