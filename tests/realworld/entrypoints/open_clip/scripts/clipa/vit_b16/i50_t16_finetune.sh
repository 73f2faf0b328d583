torchrun --nproc_per_node 8 -m open_clip_train.main --model ViT-B-16-CL16 --pretrained ''
