#!/bin/sh
# tests/contain/claude.sh: a stand-in for claude-code, installed as
# /claude/claude on the stand-in tools disk the containment loop boots.
#
# Why a stand-in: the loop kills VMMs at random points of 50 six-stage
# pipelines; real claude-code takes ~90 s to start under the nested test
# host's TCG, which would make the loop take hours. Everything around the
# agent is the real path (VMM, boot, gateway, provisioning, exec and
# stream parsing, collection, teardown); the real claude-code pipeline is
# tested by tests/e2e.
#
# It speaks the stream-json shape the stage parser reads: an init line, a
# result line, and /workspace/output.json naming the box and what it got.
# The prompt is "box=NAME sleep=SECONDS" (then the input excerpt).
# Started waiting (a stage template's: `--input-format stream-json`), it
# answers the initialize control request as claude-code does, then takes
# the prompt from the first user message.
prompt=$2
case " $* " in
*" --input-format stream-json "*)
	prompt=
	while IFS= read -r line; do
		case $line in
		*'"control_request"'*'"initialize"'*)
			id=$(printf '%s' "$line" | sed -n 's/.*"request_id":"\([^"]*\)".*/\1/p')
			printf '{"type":"control_response","response":{"subtype":"success","request_id":"%s","response":{}}}\n' "$id" ;;
		*'"type":"user"'*)
			# JSON's \n escapes split words as the newlines did
			prompt=$(printf '%s' "$line" | sed -n 's/.*"content":"\([^"]*\)".*/\1/p' | sed 's/\\n/ /g')
			break ;;
		esac
	done ;;
esac
box=? nap=0
for w in $prompt; do
	case $w in
	box=*) box=${w#box=} ;;
	sleep=*) nap=${w#sleep=} ;;
	esac
done
echo '{"type":"system","subtype":"init","session_id":"stand-in","model":"stand-in"}'
sleep "$nap"
n=0
[ -f /workspace/input.json ] && n=$(wc -c </workspace/input.json)
printf '{"box":"%s","input_bytes":%d}\n' "$box" "$n" >/workspace/output.json
printf '{"type":"result","subtype":"success","is_error":false,"result":"%s done","num_turns":1,"total_cost_usd":0,"usage":{"input_tokens":1,"output_tokens":1}}\n' "$box"
