# bash completion for treepack(1)
_treepack()
{
    local cur prev cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=${COMP_WORDS[1]}

    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "compress expand info test inspect help --help --version" -- "$cur"))
        return
    fi
    if [ "$cmd" = help ]; then
        COMPREPLY=($(compgen -W "compress expand info test inspect" -- "$cur"))
        return
    fi
    case $prev in
        -o|--output)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        -T|--threads|--level|--trust|--max-memory)
            return ;;
        --exact)
            COMPREPLY=($(compgen -W "byte model" -- "$cur"))
            return ;;
        --strip)
            # a comma-separated list: complete the last item
            local done=${cur%,*} item=${cur##*,}
            [ "$done" = "$cur" ] && done= || done=$done,
            COMPREPLY=($(compgen -P "$done" -W "all impurity samples stop-words split-values thresholds precision" -- "$item"))
            compopt -o nospace 2>/dev/null
            return ;;
    esac
    case $cur in
        --exact=*)
            COMPREPLY=($(compgen -P --exact= -W "byte model" -- "${cur#--exact=}"))
            return ;;
        --strip=*)
            local list=${cur#--strip=}
            local done=${list%,*} item=${list##*,}
            [ "$done" = "$list" ] && done= || done=$done,
            COMPREPLY=($(compgen -P "--strip=$done" -W "all impurity samples stop-words split-values thresholds precision" -- "$item"))
            compopt -o nospace 2>/dev/null
            return ;;
    esac
    if [[ $cur == -* ]]; then
        # the options each command takes (src/cli/args.c)
        local opts="-r --recursive -q --quiet -v --verbose -h --help -V --version"
        local write="-o --output= -c --stdout -f --force -k --keep --sync"
        local work="-T --threads= --max-memory= --trust= --allow-unsafe --progress --no-progress"
        case $cmd in
            compress) opts="$opts $write $work -1 -3 -9 -19 --level= --exact= --strip= --columns" ;;
            expand) opts="$opts $write $work -N --name" ;;
            test) opts="$opts $work" ;;
            inspect) opts="$opts --json --trust= --max-memory=" ;;
            info) opts="$opts --json" ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    # files (and directories, for -r): .tpk for expand/info/test, anything for compress
    case $cmd in
        expand|info|test) COMPREPLY=($(compgen -f -X '!*.tpk' -- "$cur") $(compgen -d -- "$cur")) ;;
        *) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
}
complete -o filenames -F _treepack treepack
