# Sourced by the scripts that build kapsel (serve, test, vm-test, bench).
# Under sudo, PATH loses the invoking user's rustup toolchain: this finds it
# again in root's or the sudo user's home, so that `cargo` works as root.
if ! command -v cargo >/dev/null 2>&1; then
    for home in "$HOME" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
        if [[ -n $home && -x $home/.cargo/bin/cargo ]]; then
            export PATH="$home/.cargo/bin:$PATH"
            if [[ -z ${RUSTUP_HOME:-} && -d $home/.rustup ]]; then
                export RUSTUP_HOME="$home/.rustup"
            fi
            break
        fi
    done
fi
