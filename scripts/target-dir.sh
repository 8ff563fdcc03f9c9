# Sourced by the scripts: sets BIN to the directory cargo puts release
# binaries in (honours CARGO_TARGET_DIR and .cargo/config), taken from cargo
# itself rather than assumed to be ./target.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ -z "$target_dir" ]; then
  echo "scripts: cargo metadata did not name a target directory" >&2
  exit 1
fi
BIN="$target_dir/release"
