package redisstore

import (
	"embed"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// createTenantScript creates a tenant unless it exists.
// See lua/create_tenant.lua for its KEYS and ARGV.
var createTenantScript = newScript("create_tenant")

// createUserScript adds a user to an existing tenant and writes the audit entry of it.
// See lua/create_user.lua for its KEYS and ARGV.
var createUserScript = newScript("create_user")

// setUserPermsScript replaces the permissions of an existing user and writes the audit entry of it.
// See lua/set_user_perms.lua for its KEYS and ARGV.
var setUserPermsScript = newScript("set_user_perms")

// setUserDisabledScript disables or enables an existing user and writes the audit entry of the
// change.
// See lua/set_user_disabled.lua for its KEYS and ARGV.
var setUserDisabledScript = newScript("set_user_disabled")

// createTokenScript stores a token's hash for an existing user that is not disabled, indexes it by
// its public id and writes the audit entry of it.
// See lua/create_token.lua for its KEYS and ARGV.
var createTokenScript = newScript("create_token")

// indexTokenScript indexes a token issued before tokens had public ids, at its first use.
// See lua/index_token.lua for its KEYS and ARGV.
var indexTokenScript = newScript("index_token")

// revokeTokenScript deletes a token for good, by its public id, and writes the audit entry of it.
// See lua/revoke_token.lua for its KEYS and ARGV.
var revokeTokenScript = newScript("revoke_token")

// createObjectTypeScript defines a custom object type and its properties.
// See lua/create_object_type.lua for its KEYS and ARGV.
var createObjectTypeScript = newScript("create_object_type")

// createRecordsScript creates records whose ids were drawn beforehand, all or none.
// See lua/create_records.lua for its KEYS and ARGV.
var createRecordsScript = newScript("helpers", "index", "create_records")

// updateRecordsScript changes properties of live records, all or none.
// See lua/update_records.lua for its KEYS and ARGV.
var updateRecordsScript = newScript("helpers", "index", "update_records")

// associateScript links two live records in both directions.
// See lua/associate.lua for its KEYS and ARGV.
var associateScript = newScript("associate")

// dissociateScript removes the link between two records in both directions.
// See lua/dissociate.lua for its KEYS and ARGV.
var dissociateScript = newScript("dissociate")

// createListScript creates a static list.
// See lua/create_list.lua for its KEYS and ARGV.
var createListScript = newScript("create_list")

// deleteListScript deletes a list and its memberships, never its members.
// See lua/delete_list.lua for its KEYS and ARGV.
var deleteListScript = newScript("delete_list")

// addListMembersScript adds live records to a list.
// See lua/add_list_members.lua for its KEYS and ARGV.
var addListMembersScript = newScript("helpers", "add_list_members")

// removeListMembersScript removes records from a list.
// See lua/remove_list_members.lua for its KEYS and ARGV.
var removeListMembersScript = newScript("remove_list_members")

// luaFiles holds the scripts' sources: one file a script, each opening with its KEYS/ARGV contract,
// plus the shared functions some of them start with (helpers, index, history, trigger_reads,
// mail_drop).
//
//go:embed lua/*.lua
var luaFiles embed.FS

// newScript returns the script made of the named files of lua/, joined in order: the shared
// functions first, the script's own file last. It panics when a file is missing, which is a
// programmer error found by any test that loads the package.
func newScript(names ...string) *redis.Script {
	var src strings.Builder
	for _, n := range names {
		b, err := luaFiles.ReadFile("lua/" + n + ".lua")
		if err != nil {
			panic(fmt.Sprintf("redisstore: script file %s: %v", n, err))
		}
		src.Write(b)
		src.WriteByte('\n')
	}
	return redis.NewScript(src.String())
}
