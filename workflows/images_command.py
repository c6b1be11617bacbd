"""``modpipe images``: the list of known violating images that re-uploads are matched against."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from components.errors import ModpipeError

console = Console(highlight=False, soft_wrap=True)
KNOWN_OUTPUT = Path("known-images") / "known_images.jsonl"

images_app = typer.Typer(help="Images: the known violating images list.", no_args_is_help=True)


@images_app.command("known")
def known(
    directory: Path = typer.Argument(..., help="A folder of images, read with its subfolders."),
    category: str = typer.Option(..., "--category", "-c", help="The images' category."),
    output: Path = typer.Option(KNOWN_OUTPUT, "-o", "--output", help="The list to write."),
    append: bool = typer.Option(
        False, "--append", help="Add to the list (an image already on it stays as it is)."
    ),
) -> None:
    """Hash every image under DIRECTORY (hidden files aside) into the list of known images of
    CATEGORY; one file that is not a usable image fails it all, and nothing is written. Inside
    a DVC repository the list's own folder is then versioned (FOLDER.dvc, to commit with git),
    as terms/ is."""
    from components.model.vision.known import KnownImages

    if not directory.is_dir():
        raise ModpipeError(f"{directory}: no such folder")
    paths = sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )
    if not paths:
        raise ModpipeError(f"{directory}: no files to hash")
    found = KnownImages.from_images(paths, category)
    listed = KnownImages.load(output) if append and output.exists() else KnownImages([])
    updated = listed.extended(found)
    updated.write(output)
    added = len(updated) - len(listed)
    console.print(f"wrote {output}: {len(updated)} known images, {added} added", markup=False)
    _version(output)


def _version(output: Path) -> None:
    """``dvc add`` the list's folder, inside a DVC repository, if the folder is the list's own."""
    from components.data.versioning import find_dvc_repo, track

    folder = output.parent.resolve()
    if find_dvc_repo(folder) is None:
        return
    if any(path.name != output.name for path in folder.iterdir()):
        console.print(f"not versioned: {folder} holds more than the list", markup=False)
        return
    console.print(f"DVC version: {track(folder)} ({folder.name}.dvc; commit it with git)")
