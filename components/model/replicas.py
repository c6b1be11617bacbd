"""The processes of a training run: one alone, or one replica of several under torchrun.

Under torchrun each process is one device (GPU ``LOCAL_RANK`` when CUDA is there: nccl; else
CPU: gloo); rank 0 is the main one, which validates and writes.
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Replica:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def current(cls) -> "Replica":
        distributed = dist.is_available() and dist.is_initialized()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        return cls(
            rank=dist.get_rank() if distributed else 0,
            world_size=dist.get_world_size() if distributed else 1,
            device=torch.device("cuda", local_rank) if cuda else torch.device("cpu"),
        )

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order."""
        if self.world_size == 1:
            return [obj]
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def from_main(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if self.world_size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


@contextmanager
def process_group():
    """Join torchrun's process group when launched by torchrun; nothing to do when run alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield
        return
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
    else:
        dist.init_process_group(backend="gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()
